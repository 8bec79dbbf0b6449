import { shortString } from './values';

/** Rate-limit state from the `X-RateLimit-*` and `Retry-After` response headers. */
export interface RateLimitInfo {
  limit?: number;
  /** May be negative: the gateway was seen counting down past zero (1, 0, -1). */
  remaining?: number;
  /** Seconds until the window resets (relative, not an epoch). */
  reset?: number;
  retryAfter?: number;
}

/** What a call reads from a response head, whatever form the transport's headers come in. */
export interface ResponseHead {
  /** Lower case; empty when absent. */
  readonly contentType: string;
  /** Lower case, trimmed; undefined when absent or `identity`. */
  readonly contentEncoding: string | undefined;
  /** `x-request-id`, in case the body carries none. */
  readonly requestId: string | undefined;
  /** `x-ratelimit-model`: the model the rate-limit headers count, when the request named none. */
  readonly rateLimitModel: string | undefined;
  readonly rateLimit: RateLimitInfo;
}

export type HeaderLookup = (name: string) => string | null | undefined;

/** The response head from headers that can be looked up by (lower-case) name. */
export function responseHeadOf(get: HeaderLookup, now: number = Date.now()): ResponseHead {
  return {
    contentType: (get('content-type') ?? '').toLowerCase(),
    contentEncoding: encodingOf(get('content-encoding')),
    requestId: shortString(get('x-request-id') ?? undefined),
    rateLimitModel: shortString(get('x-ratelimit-model') ?? undefined),
    rateLimit: parseRateLimitHeaders(get, now),
  };
}

export function parseRateLimitHeaders(get: HeaderLookup, now: number = Date.now()): RateLimitInfo {
  const rateLimit: RateLimitInfo = {};
  const limit = parseInteger(get('x-ratelimit-limit'));
  if (limit !== undefined) rateLimit.limit = limit;
  const remaining = parseInteger(get('x-ratelimit-remaining'));
  if (remaining !== undefined) rateLimit.remaining = remaining;
  const reset = parseInteger(get('x-ratelimit-reset'));
  if (reset !== undefined) rateLimit.reset = reset;
  const retryAfter = parseRetryAfter(get('retry-after'), now);
  if (retryAfter !== undefined) rateLimit.retryAfter = retryAfter;
  return rateLimit;
}

export function encodingOf(value: string | null | undefined): string | undefined {
  if (value == null) return undefined;
  const encoding = value.trim().toLowerCase();
  return encoding === '' || encoding === 'identity' ? undefined : encoding;
}

/** An optionally signed integer of at most 15 digits, surrounding blanks allowed; else undefined. */
export function parseInteger(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  let start = 0;
  let end = value.length;
  while (start < end && isBlank(value.charCodeAt(start))) start++;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--;
  const negative = value.charCodeAt(start) === 45; /* - */
  if (negative) start++;
  if (end === start || end - start > 15) return undefined;
  let n = 0;
  for (let i = start; i < end; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  return negative ? -n : n;
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/** IMF-fixdate, RFC 850 or asctime: a day name, then a time of day (RFC 9110 §5.6.7). */
const HTTP_DATE = /^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s.*\b\d{2}:\d{2}:\d{2}\b/i;

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const seconds = parseInteger(value);
  if (seconds !== undefined) return Math.max(0, seconds);
  // Date.parse alone is far too lenient (V8 reads "1.5" or "foo 1" as dates in 2001).
  if (!HTTP_DATE.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
