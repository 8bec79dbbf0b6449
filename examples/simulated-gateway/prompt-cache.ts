/**
 * The gateway's prompt caching, as its docs describe it (gateway-api.md §10 G1-G3): Claude
 * caches a prompt only up to an explicit `cache_control: {type: "ephemeral", ttl?}` breakpoint
 * (on a message or on one of its content parts); OpenAI and Gemini models cache a long enough
 * prefix on their own. A later request with the same prefix, on the same model, within the TTL
 * reads it from the cache. Tokens are counted the simulator's way (words).
 */

/** What one request did with the cache, in tokens. */
export interface CacheUse {
  read: number;
  written: number;
}

/** OpenAI caches prompts of at least this many tokens (its documented minimum). */
export const AUTOMATIC_CACHE_MIN_TOKENS = 1024;
const DEFAULT_TTL_MS = 5 * 60_000;
const AUTOMATIC_CACHE_CREATORS = new Set(['openai', 'google', 'moonshot']);

type Message = Record<string, unknown>;

export class PromptCache {
  /** Prefix key -> when it expires (ms since the epoch), oldest first. */
  readonly #entries = new Map<string, number>();

  constructor(private readonly maxEntries = 1000) {}

  /**
   * Looks the request's cacheable prefix up, and stores (or refreshes) it. `tokens` counts a
   * message's tokens.
   */
  use(
    model: { id: string; creator: string },
    messages: Message[],
    tokens: (message: Message) => number,
    now = Date.now(),
  ): CacheUse {
    const prefix = cacheablePrefix(model.creator, messages, tokens);
    if (prefix === undefined) return { read: 0, written: 0 };
    const key = `${model.id}\u0000${JSON.stringify(messages.slice(0, prefix.length))}`;
    const expiresAt = this.#entries.get(key);
    this.#entries.delete(key);
    this.#entries.set(key, now + prefix.ttlMs);
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    if (expiresAt !== undefined && expiresAt > now) return { read: prefix.tokens, written: 0 };
    // Anthropic reports what it wrote to the cache; the automatic caches do not.
    return { read: 0, written: prefix.explicit ? prefix.tokens : 0 };
  }

  clear(): void {
    this.#entries.clear();
  }
}

interface Prefix {
  /** Number of leading messages cached. */
  length: number;
  tokens: number;
  ttlMs: number;
  explicit: boolean;
}

function cacheablePrefix(
  creator: string,
  messages: Message[],
  tokens: (message: Message) => number,
): Prefix | undefined {
  let breakpoint = -1;
  let ttlMs = DEFAULT_TTL_MS;
  messages.forEach((message, index) => {
    const control = cacheControlOf(message);
    if (control === undefined) return;
    breakpoint = index;
    ttlMs = ttlOf(control);
  });
  if (breakpoint !== -1) {
    const cached = messages.slice(0, breakpoint + 1);
    return { length: cached.length, tokens: cached.reduce((sum, m) => sum + tokens(m), 0), ttlMs, explicit: true };
  }
  if (!AUTOMATIC_CACHE_CREATORS.has(creator) || messages.length < 2) return undefined;
  // Everything but the new turn is the reusable prefix.
  const cached = messages.slice(0, -1);
  const count = cached.reduce((sum, m) => sum + tokens(m), 0);
  return count >= AUTOMATIC_CACHE_MIN_TOKENS
    ? { length: cached.length, tokens: count, ttlMs: DEFAULT_TTL_MS, explicit: false }
    : undefined;
}

/** `cache_control` on the message, or on one of its content parts. */
function cacheControlOf(message: Message): Record<string, unknown> | undefined {
  if (isRecord(message.cache_control)) return message.cache_control;
  if (!Array.isArray(message.content)) return undefined;
  let found: Record<string, unknown> | undefined;
  for (const part of message.content) if (isRecord(part) && isRecord(part.cache_control)) found = part.cache_control;
  return found;
}

/** The gateway's optional `ttl` extension: `30s`, `5m`, `1h`; anything else is the default 5 minutes. */
function ttlOf(control: Record<string, unknown>): number {
  const match = typeof control.ttl === 'string' ? /^(\d{1,6})(s|m|h)$/.exec(control.ttl) : null;
  if (!match) return DEFAULT_TTL_MS;
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
