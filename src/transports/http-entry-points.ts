import http from 'node:http';
import https from 'node:https';
import { authorityOfUrl, formatAuthority } from '../gateway';

/**
 * Keeps our wrapper the outermost one on `http.request`, `http.get`, `https.request` and
 * `https.get` whenever another module (the http instrumentation) has wrapped them.
 *
 * Why: @opentelemetry/instrumentation-http starts its HTTP span inside its wrapper of
 * `http.request`, before the ClientRequest exists, as a child of the active context. Only code
 * that runs before that wrapper can make the GenAI span its parent. Where nothing else wraps
 * these functions, nothing is patched: the diagnostics channels see every request.
 */

type EntryName = 'request' | 'get';
/** A method as wrapped here: called with its own `this` and whatever arguments it gets. */
export type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;
const ENTRY_NAMES: readonly EntryName[] = ['request', 'get'];

/** Runs `send` (the wrapped function) for a call made through an entry point to `target`. */
export type EntryCallRunner = (target: EntryTarget | undefined, send: () => unknown) => unknown;

interface WrapperState {
  active: boolean;
}

/** Marks our wrappers (any installation, any copy of this package). */
const ENTRY_WRAPPER = Symbol.for('opentelemetry-instrumentation-llm-gateway.http-entry');

/** Node's own functions, seen through shimmer-style wrappers that may predate this module. */
const NODE_ENTRY_POINTS = new Set<unknown>([http.request, http.get, https.request, https.get].map(unwrapShimmer));

/**
 * Every object node:http(s) entry points are called on: the CommonJS exports, and the ES module
 * namespaces import-in-the-middle hands to instrumentations. Value: the module's default protocol.
 */
const httpModules = new Map<object, string>([
  [http, 'http:'],
  [https, 'https:'],
]);

const installations = new Set<EntryPointWrappers>();

/**
 * node:http or node:https was loaded through require/import hooks, which is when other
 * instrumentations wrap it. Hooks registered after ours run after it, so we look again once
 * the current synchronous work (the rest of the hook chain) is done.
 */
export function noteHttpModuleLoaded(moduleExports: unknown): void {
  if (typeof moduleExports !== 'object' || moduleExports === null) return;
  const namespace = moduleExports as { default?: unknown };
  const protocol = moduleExports === https || namespace.default === https ? 'https:' : 'http:';
  httpModules.set(moduleExports, protocol);
  for (const installation of installations) {
    installation.keepOnTop();
    queueMicrotask(() => installation.keepOnTop());
  }
}

export class EntryPointWrappers {
  private readonly installed: {
    target: object;
    name: EntryName;
    wrapper: AnyMethod;
    inner: AnyMethod;
    state: WrapperState;
  }[] = [];

  constructor(private readonly runEntryCall: EntryCallRunner) {
    installations.add(this);
  }

  /**
   * Wraps every entry point that another module wrapped and that is not already under one of
   * our live wrappers. Returns true if it had to wrap something.
   */
  keepOnTop(): boolean {
    if (!installations.has(this)) return false;
    let wrapped = false;
    for (const [target, protocol] of httpModules) {
      for (const name of ENTRY_NAMES) {
        const current = (target as Record<string, unknown>)[name];
        if (typeof current !== 'function' || NODE_ENTRY_POINTS.has(current) || isLiveWrapper(current as AnyMethod))
          continue;
        this.wrap(target, name, current as AnyMethod, protocol);
        wrapped = true;
      }
    }
    return wrapped;
  }

  /** Restores what we wrapped where we are still on top; elsewhere our wrappers pass through. */
  uninstall(): void {
    installations.delete(this);
    for (const { target, name, wrapper, inner, state } of this.installed) {
      state.active = false;
      if ((target as Record<string, unknown>)[name] === wrapper) defineMethod(target, name, inner);
    }
    this.installed.length = 0;
  }

  private wrap(target: object, name: EntryName, inner: AnyMethod, defaultProtocol: string): void {
    const state: WrapperState = { active: true };
    const runEntryCall = this.runEntryCall;
    const wrapper = function (this: unknown, ...args: unknown[]): unknown {
      if (!state.active) return Reflect.apply(inner, this, args);
      return runEntryCall(entryTargetOf(args, defaultProtocol), () => Reflect.apply(inner, this, args));
    };
    Object.defineProperty(wrapper, ENTRY_WRAPPER, { value: state });
    // Lets shimmer-style tools see through us to what we wrapped.
    Object.defineProperty(wrapper, '__original', { value: inner, configurable: true });
    Object.defineProperty(wrapper, 'name', { value: inner.name, configurable: true });
    defineMethod(target, name, wrapper);
    this.installed.push({ target, name, wrapper, inner, state });
  }
}

export interface EntryTarget {
  /** `host[:port]`, lower case: what the host check needs. */
  authority: string;
  /** The full URL and method; only worked out for a gateway call. */
  describe(): { url: URL; method: string };
}

interface RequestOptionsLike {
  protocol?: unknown;
  hostname?: unknown;
  host?: unknown;
  port?: unknown;
  path?: unknown;
  method?: unknown;
}

/**
 * Where `http.request(url?, options?, callback?)` will send a request, merging the arguments as
 * Node does (options override the URL's parts). A URL string alone is scanned, not parsed, so
 * a request to another host pays a string scan.
 */
function entryTargetOf(args: ArrayLike<unknown>, defaultProtocol: string): EntryTarget | undefined {
  const first = args[0];
  const input = typeof first === 'string' || first instanceof URL ? first : undefined;
  const options = asOptions(input === undefined ? first : args[1]);
  const hostname = nonEmptyString(options?.hostname) ?? nonEmptyString(options?.host);
  const port = typeof options?.port === 'number' ? String(options.port) : nonEmptyString(options?.port);
  let parsed: URL | undefined;
  const inputUrl = (): URL | undefined => {
    if (parsed === undefined && input !== undefined) parsed = input instanceof URL ? input : new URL(input);
    return parsed;
  };
  let authority: string | undefined;
  try {
    if (input !== undefined && hostname === undefined && port === undefined) {
      authority = input instanceof URL ? input.host : authorityOfUrl(input);
    } else {
      const url = hostname === undefined || port === undefined ? inputUrl() : undefined;
      authority = formatAuthority(hostname ?? url?.hostname ?? 'localhost', port ?? url?.port);
    }
  } catch {
    return undefined; // an invalid URL: Node throws its own error for it
  }
  if (authority === undefined) return undefined;
  const lowerCaseAuthority = authority.toLowerCase();
  return {
    authority: lowerCaseAuthority,
    describe() {
      const url = inputUrl();
      const protocol = nonEmptyString(options?.protocol) ?? url?.protocol ?? defaultProtocol;
      const path = nonEmptyString(options?.path) ?? (url ? url.pathname + url.search : '/');
      const method = (nonEmptyString(options?.method) ?? 'GET').toUpperCase();
      return { url: new URL(path, `${protocol}//${lowerCaseAuthority}`), method };
    },
  };
}

function asOptions(value: unknown): RequestOptionsLike | undefined {
  return typeof value === 'object' && value !== null && !(value instanceof URL) ? value : undefined;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isLiveWrapper(fn: AnyMethod): boolean {
  const state = (fn as { [ENTRY_WRAPPER]?: WrapperState })[ENTRY_WRAPPER];
  return state !== undefined && state.active;
}

function unwrapShimmer(fn: unknown): unknown {
  let current = fn;
  for (let depth = 0; depth < 16; depth++) {
    const original = (current as { __original?: unknown } | undefined)?.__original;
    if (typeof original !== 'function') break;
    current = original;
  }
  return current;
}

/** As shimmer does it, so a module that unwraps with shimmer later finds a plain data property. */
function defineMethod(target: object, name: string, value: AnyMethod): void {
  const enumerable = Object.prototype.propertyIsEnumerable.call(target, name);
  Object.defineProperty(target, name, { configurable: true, enumerable, writable: true, value });
}
