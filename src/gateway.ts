import {
  GEN_AI_OPERATION_CHAT,
  GEN_AI_OPERATION_LIST_MODELS,
  GEN_AI_OPERATION_OTHER,
  GEN_AI_OPERATION_TEXT_COMPLETION,
  GEN_AI_OPERATION_UNDERSTANDING,
} from './semconv';

/** The configured gateway hosts: lower-case `host` or `host:port` to region (ResolvedConfig has them). */
export interface GatewayHosts {
  readonly regionByHost: ReadonlyMap<string, string>;
}

/**
 * The region of a gateway host, or undefined for any other host. This is the only work a
 * request to another host pays, so it avoids URL parsing: `authority` is `host` or
 * `host:port`, as in `URL.host`.
 */
export function gatewayRegion(config: GatewayHosts, authority: string): string | undefined {
  const hosts = config.regionByHost;
  const exact = hosts.get(authority);
  if (exact !== undefined) return exact;
  const colon = authority.lastIndexOf(':');
  // `]` after the last colon means an IPv6 literal without a port.
  if (colon === -1 || authority.indexOf(']', colon) !== -1) return undefined;
  return hosts.get(authority.slice(0, colon));
}

// This file is the one home for "is this a gateway request, which authority, which region":
// every transport and the register entry find a request's authority here.

/**
 * The authority (`host[:port]`, lower case, no userinfo) of an absolute URL string or an
 * origin (`https://host:port`, as undici reports it), cheaply: no URL parsing.
 */
export function authorityOfUrl(url: string): string | undefined {
  const schemeEnd = url.indexOf('://');
  if (schemeEnd === -1) return undefined;
  const start = schemeEnd + 3;
  // The authority ends at the first '/', '?', '#' (or '\\', which URL parsing treats as '/');
  // userinfo ends at its last '@'.
  let end = url.length;
  let at = -1;
  for (let i = start; i < end; i++) {
    const code = url.charCodeAt(i);
    if (code === SLASH || code === QUESTION || code === HASH || code === BACKSLASH) end = i;
    else if (code === AT) at = i;
  }
  const authority = url.slice(at === -1 ? start : at + 1, end);
  return hasUpperCase(authority) ? authority.toLowerCase() : authority;
}

const SLASH = 47;
const QUESTION = 63;
const HASH = 35;
const BACKSLASH = 92;
const AT = 64;

function hasUpperCase(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 65 && code <= 90) return true;
  }
  return false;
}

/** `host[:port]` from a host name and a port, bracketing an IPv6 literal given without brackets. */
export function formatAuthority(hostname: string, port: string | number | undefined | null): string {
  const host = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  return port !== undefined && port !== null && port !== '' ? `${host}:${port}` : host;
}

/** `host[:port]` of `http.request` options (`hostname` wins over `host`, which may carry the port). */
export function authorityOfRequestOptions(options: {
  hostname?: string | null;
  host?: string | null;
  port?: string | number | null;
}): string | undefined {
  const hostname = options.hostname ?? options.host?.replace(/:\d+$/, '');
  if (!hostname) return undefined;
  return formatAuthority(hostname, options.port).toLowerCase();
}

/** `host[:port]` a node:http ClientRequest addresses (its Host header), lower case. */
export function authorityOfClientRequest(request: { getHeader(name: string): unknown; host: string }): string {
  const host = request.getHeader('host');
  return (typeof host === 'string' ? host : request.host).toLowerCase();
}

/**
 * A configured gateway host as the lower-case authority the checks compare: accepts `host`,
 * `host:port` or a whole URL. A default port (80, 443) is dropped: URLs and Host headers drop
 * it too, so `proxy:443` must match `proxy`.
 */
export function normaliseHost(host: string): string | undefined {
  const trimmed = host.trim().toLowerCase();
  if (!trimmed) return undefined;
  let authority: string;
  if (trimmed.includes('://')) {
    try {
      authority = new URL(trimmed).host;
    } catch {
      return undefined;
    }
  } else {
    authority = trimmed.replace(/\/.*$/, '');
  }
  return authority.replace(/:(80|443)$/, '');
}

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
