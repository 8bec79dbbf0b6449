import { encodingOf, parseInteger, parseRetryAfter, type RateLimitInfo, type ResponseHead } from '../parse/headers';
import { shortString } from '../parse/values';

/**
 * The response head from undici's raw headers (a flat `[name, value, ...]` array of Buffers, or
 * strings), in one pass: a name is compared byte by byte, case-insensitively, with the few this
 * instrumentation reads, and only their values are decoded. Every response of a busy service
 * passes here, so nothing else is allocated.
 */
export function responseHeadOfRaw(raw: unknown): ResponseHead {
  let contentType = '';
  let contentEncoding: string | undefined;
  let requestId: string | undefined;
  let rateLimitModel: string | undefined;
  const rateLimit: RateLimitInfo = {};
  if (!Array.isArray(raw)) return { contentType, contentEncoding, requestId, rateLimitModel, rateLimit };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const header = headerOf(raw[i] as Uint8Array | string);
    if (header === UNKNOWN) continue;
    const value = String(raw[i + 1]);
    switch (header) {
      case CONTENT_TYPE:
        contentType = value.toLowerCase();
        break;
      case CONTENT_ENCODING:
        contentEncoding = encodingOf(value);
        break;
      case REQUEST_ID:
        requestId = shortString(value);
        break;
      case RATELIMIT_MODEL:
        rateLimitModel = shortString(value);
        break;
      case RATELIMIT_LIMIT:
        setIfInteger(rateLimit, 'limit', value);
        break;
      case RATELIMIT_REMAINING:
        setIfInteger(rateLimit, 'remaining', value);
        break;
      case RATELIMIT_RESET:
        setIfInteger(rateLimit, 'reset', value);
        break;
      case RETRY_AFTER: {
        const seconds = parseRetryAfter(value, Date.now());
        if (seconds !== undefined) rateLimit.retryAfter = seconds;
        break;
      }
    }
  }
  return { contentType, contentEncoding, requestId, rateLimitModel, rateLimit };
}

function setIfInteger(rateLimit: RateLimitInfo, key: 'limit' | 'remaining' | 'reset', value: string): void {
  const n = parseInteger(value);
  if (n !== undefined) rateLimit[key] = n;
}

const UNKNOWN = -1;
const CONTENT_TYPE = 0;
const CONTENT_ENCODING = 1;
const REQUEST_ID = 2;
const RATELIMIT_MODEL = 3;
const RATELIMIT_LIMIT = 4;
const RATELIMIT_REMAINING = 5;
const RATELIMIT_RESET = 6;
const RETRY_AFTER = 7;
const NAMES = [
  'content-type',
  'content-encoding',
  'x-request-id',
  'x-ratelimit-model',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'retry-after',
];
const NAME_BYTES = NAMES.map((name) => Buffer.from(name, 'latin1'));

/** Which of NAMES `name` is (any case), or UNKNOWN; most names are ruled out by their length. */
function headerOf(name: Uint8Array | string): number {
  const length = name.length;
  for (let h = 0; h < NAME_BYTES.length; h++) {
    const target = NAME_BYTES[h];
    if (target.length !== length) continue;
    if (typeof name === 'string' ? name.toLowerCase() === NAMES[h] : equalsIgnoringCase(name, target)) return h;
  }
  return UNKNOWN;
}

/** ASCII letters compared with their case bit set; the names read here have no other letters. */
function equalsIgnoringCase(bytes: Uint8Array, lowerCase: Uint8Array): boolean {
  for (let j = 0; j < lowerCase.length; j++) {
    const byte = bytes[j];
    if ((byte >= 65 && byte <= 90 ? byte | 0x20 : byte) !== lowerCase[j]) return false;
  }
  return true;
}
