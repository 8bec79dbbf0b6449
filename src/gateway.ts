import type { ResolvedConfig } from './config';
import {
  GEN_AI_OPERATION_CHAT,
  GEN_AI_OPERATION_LIST_MODELS,
  GEN_AI_OPERATION_OTHER,
  GEN_AI_OPERATION_TEXT_COMPLETION,
  GEN_AI_OPERATION_UNDERSTANDING,
} from './semconv';

/**
 * The region of a gateway host, or undefined for any other host. This is the only work a
 * request to another host pays, so it avoids URL parsing: `authority` is `host` or
 * `host:port`, as in `URL.host`.
 */
export function gatewayRegion(config: ResolvedConfig, authority: string): string | undefined {
  const hosts = config.regionByHost;
  const exact = hosts.get(authority);
  if (exact !== undefined) return exact;
  const colon = authority.lastIndexOf(':');
  // `]` after the last colon means an IPv6 literal without a port.
  if (colon === -1 || authority.indexOf(']', colon) !== -1) return undefined;
  return hosts.get(authority.slice(0, colon));
}

/** The authority (`host[:port]`, lower case, no userinfo) of an absolute URL string, cheaply. */
export function authorityOfUrl(url: string): string | undefined {
  const schemeEnd = url.indexOf('://');
  if (schemeEnd === -1) return undefined;
  const start = schemeEnd + 3;
  // The authority ends at the first '/', '?', '#' (or '\\', which URL parsing treats as '/').
  let end = url.length;
  for (const delimiter of AUTHORITY_END) {
    const at = url.indexOf(delimiter, start);
    if (at !== -1 && at < end) end = at;
  }
  let authority = url.slice(start, end);
  const at = authority.lastIndexOf('@');
  if (at !== -1) authority = authority.slice(at + 1);
  return authority.toLowerCase();
}

const AUTHORITY_END = ['/', '?', '#', '\\'];

/** `gen_ai.operation.name` from the request method and path. */
export function operationOf(method: string, pathname: string): string {
  const path = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
  if (path.endsWith('/chat/completions')) return GEN_AI_OPERATION_CHAT;
  if (path.endsWith('/understanding') || path.includes('/understanding/')) return GEN_AI_OPERATION_UNDERSTANDING;
  if (path.endsWith('/models') && method === 'GET') return GEN_AI_OPERATION_LIST_MODELS;
  if (path.endsWith('/completions')) return GEN_AI_OPERATION_TEXT_COMPLETION;
  return GEN_AI_OPERATION_OTHER;
}

/** `url.full` with credentials removed and every query value redacted (keys are sent there by mistake). */
export function redactUrl(url: URL): string {
  if (!url.search && !url.username && !url.password && !url.hash) return url.href;
  const copy = new URL(url.href);
  if (copy.username || copy.password) {
    copy.username = 'REDACTED';
    copy.password = 'REDACTED';
  }
  if (copy.search) {
    const keys = [...new URLSearchParams(copy.search).keys()];
    copy.search = keys.map((k) => `${encodeURIComponent(k)}=REDACTED`).join('&');
  }
  copy.hash = '';
  return copy.href;
}
