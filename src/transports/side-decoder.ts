import type { DiagLogger } from '@opentelemetry/api';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';

/**
 * Decodes a compressed response body beside the application's stream, never in its path.
 * Memory is bounded by zlib's own buffers; a decoding error only stops the observation.
 */
export class SideDecoder {
  private done = false;
  private onDone: (() => void) | undefined;

  static for(encoding: string, onChunk: (chunk: Uint8Array) => void, diag: DiagLogger): SideDecoder | undefined {
    const stream = createDecompressor(encoding);
    if (stream === undefined) {
      diag.debug(`llm-gateway: response content-encoding ${encoding} is not decoded; its body is not observed`);
      return undefined;
    }
    return new SideDecoder(stream, onChunk, diag);
  }

  private constructor(
    private readonly stream: Transform,
    onChunk: (chunk: Uint8Array) => void,
    diag: DiagLogger,
  ) {
    stream.on('data', onChunk);
    stream.on('end', () => this.finish());
    stream.on('error', (error) => {
      diag.debug('llm-gateway: could not decode a response body; observed what was decoded', error);
      this.finish();
    });
  }

  write(chunk: Uint8Array): void {
    if (!this.done) this.stream.write(chunk);
  }

  /** The last raw chunk was written. */
  end(): void {
    if (!this.done) this.stream.end();
  }

  destroy(): void {
    if (this.done) return;
    this.stream.destroy();
    this.finish();
  }

  /** Runs `callback` once every decoded byte has been handed over (or decoding stopped). */
  whenDone(callback: () => void): void {
    if (this.done) callback();
    else this.onDone = callback;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const callback = this.onDone;
    this.onDone = undefined;
    callback?.();
  }
}

function createDecompressor(encoding: string): Transform | undefined {
  // Flushing what is there at the end (as clients do) decodes a body cut short without an error.
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
    case 'deflate':
      return zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
    case 'br':
      return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
    case 'zstd': {
      const createZstd = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;
      return createZstd?.();
    }
    default:
      return undefined;
  }
}
