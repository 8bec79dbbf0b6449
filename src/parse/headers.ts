/** Rate-limit state from the `X-RateLimit-*` and `Retry-After` response headers. */
export interface RateLimitInfo {
  limit?: number;
  /** May be negative: the gateway was seen counting down past zero (1, 0, -1). */
  remaining?: number;
  /** Seconds until the window resets (relative, not an epoch). */
  reset?: number;
  retryAfter?: number;
}

export type HeaderLookup = (name: string) => string | null | undefined;

export function parseRateLimitHeaders(get: HeaderLookup, now: number = Date.now()): RateLimitInfo {
  return {
    limit: parseInteger(get('x-ratelimit-limit')),
    remaining: parseInteger(get('x-ratelimit-remaining')),
    reset: parseInteger(get('x-ratelimit-reset')),
    retryAfter: parseRetryAfter(get('retry-after'), now),
  };
}

function parseInteger(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  const trimmed = value.trim();
  if (!/^-?\d{1,15}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

/** IMF-fixdate, RFC 850 or asctime: a day name, then a time of day (RFC 9110 §5.6.7). */
const HTTP_DATE = /^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s.*\b\d{2}:\d{2}:\d{2}\b/i;

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const seconds = parseInteger(value);
  if (seconds !== undefined) return Math.max(0, seconds);
  // Date.parse alone is far too lenient (V8 reads "1.5" or "foo 1" as dates in 2001).
  if (!HTTP_DATE.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
