import { describe, expect, it } from 'vitest';
import { parseRateLimitHeaders } from '../../src/parse/headers';

const NOW = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

function parse(headers: Record<string, string>, now = NOW) {
  const h = new Headers(headers);
  return parseRateLimitHeaders((name) => h.get(name), now);
}

describe('parseRateLimitHeaders', () => {
  it('reads X-RateLimit-Limit, -Remaining and -Reset as integers', () => {
    expect(parse({ 'X-RateLimit-Limit': '30', 'X-RateLimit-Remaining': '29', 'X-RateLimit-Reset': '60' })).toEqual({
      limit: 30,
      remaining: 29,
      reset: 60,
    });
  });

  it('keeps a negative remaining (the gateway counts past zero)', () => {
    expect(parse({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '-1' }).remaining).toBe(-1);
    expect(parse({ 'x-ratelimit-remaining': '0' }).remaining).toBe(0);
  });

  it('tolerates surrounding whitespace', () => {
    expect(parse({ 'x-ratelimit-limit': ' 30 ' }).limit).toBe(30);
  });

  it('ignores garbage values', () => {
    for (const value of [
      '',
      'abc',
      '1.5',
      '30 requests',
      '1e3',
      '0x1f',
      '+5',
      '--1',
      '12,13',
      '99999999999999999999',
      'NaN',
      'Infinity',
    ]) {
      const info = parse({
        'x-ratelimit-limit': value,
        'x-ratelimit-remaining': value,
        'x-ratelimit-reset': value,
        'retry-after': value,
      });
      expect(info, JSON.stringify(value)).toEqual({});
    }
  });

  it('reports nothing when no rate-limit header is present', () => {
    expect(parse({ 'content-type': 'application/json' })).toEqual({});
  });

  it('reads Retry-After in seconds', () => {
    expect(parse({ 'retry-after': '56' }).retryAfter).toBe(56);
    expect(parse({ 'retry-after': '0' }).retryAfter).toBe(0);
  });

  it('reads Retry-After as an HTTP-date, in seconds from now', () => {
    expect(parse({ 'retry-after': 'Wed, 21 Oct 2015 07:29:00 GMT' }).retryAfter).toBe(60);
    expect(parse({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }).retryAfter).toBe(0);
  });

  it('rounds a Retry-After date up to whole seconds', () => {
    expect(parse({ 'retry-after': 'Wed, 21 Oct 2015 07:28:10 GMT' }, NOW + 500).retryAfter).toBe(10);
  });

  it('reads the obsolete RFC 850 Retry-After date form', () => {
    expect(parse({ 'retry-after': 'Wednesday, 21-Oct-15 07:30:00 GMT' }).retryAfter).toBe(120);
  });

  it('gives 0, not a negative delay, for a Retry-After date in the past', () => {
    expect(parse({ 'retry-after': 'Tue, 20 Oct 2015 07:28:00 GMT' }).retryAfter).toBe(0);
  });

  it('does not read a number-like garbage Retry-After as a date', () => {
    // V8's Date.parse accepts "1.5", "foo 1" and "Mon 99" as dates in 1999-2001.
    for (const value of ['1.5', 'foo 1', 'Mon 99', 'x 12', '2 minutes']) {
      expect(parse({ 'retry-after': value }).retryAfter, value).toBeUndefined();
    }
  });
});
