import { JSON_SCAN_WINDOW_BYTES, MAX_CAPTURED_REQUEST_CHARS, MAX_PARSED_REQUEST_CHARS } from '../parse/limits';
import { parseRequestBody } from '../parse/request';
import type { RequestInfo } from '../parse/types';

/**
 * The first and last bytes of a request body, copied: a body that fits the head is parsed
 * whole, as fetch's would be; a larger one (a long transcript) is scanned at both ends.
 */
export class RequestBodySample {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer | undefined;
  private readonly headLimit: number;

  constructor(private readonly captureMessageContent: boolean) {
    this.headLimit = captureMessageContent ? MAX_CAPTURED_REQUEST_CHARS : MAX_PARSED_REQUEST_CHARS;
  }

  add(chunk: unknown, encoding: unknown): void {
    if (chunk === undefined || chunk === null) return;
    let bytes: Uint8Array;
    if (typeof chunk === 'string') {
      bytes = Buffer.from(chunk, typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8');
    } else if (chunk instanceof Uint8Array) {
      bytes = chunk;
    } else {
      return;
    }
    const roomInHead = this.headLimit - this.headBytes;
    if (roomInHead > 0) {
      const part = bytes.subarray(0, roomInHead);
      this.head.push(Buffer.from(part));
      this.headBytes += part.byteLength;
      bytes = bytes.subarray(part.byteLength);
    }
    if (bytes.byteLength === 0) return;
    const kept = this.tail === undefined ? Buffer.from(bytes) : Buffer.concat([this.tail, bytes]);
    this.tail =
      kept.byteLength > JSON_SCAN_WINDOW_BYTES
        ? Buffer.from(kept.subarray(kept.byteLength - JSON_SCAN_WINDOW_BYTES))
        : kept;
  }

  requestInfo(): RequestInfo | undefined {
    if (this.headBytes === 0) return undefined;
    const parts = this.tail === undefined ? this.head : [...this.head, this.tail];
    return parseRequestBody(Buffer.concat(parts).toString('utf8'), this.captureMessageContent);
  }
}
