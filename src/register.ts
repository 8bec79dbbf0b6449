/**
 * Zero-code start, for `node --import opentelemetry-instrumentation-llm-gateway/register app.js`
 * (and `--require` for CommonJS apps): starts the OpenTelemetry NodeSDK, configured by the
 * standard OTEL_* variables alone (OTLP/HTTP export of traces, metrics and logs to
 * OTEL_EXPORTER_OTLP_ENDPOINT by default), with this instrumentation and the undici and http
 * instrumentations, so every GenAI span has the HTTP span of its request as a child.
 * Telemetry is flushed when the process runs out of work and on SIGTERM/SIGINT, and the
 * process then exits exactly as it would have without it.
 *
 * The SDK and the two HTTP instrumentations are optional peer dependencies: an application that
 * starts its own SDK never installs them, so they are loaded here, at run time, and only here.
 */
import { diag } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type * as InstrumentationHttp from '@opentelemetry/instrumentation-http';
import type * as InstrumentationUndici from '@opentelemetry/instrumentation-undici';
import type * as SdkNode from '@opentelemetry/sdk-node';
import type { RequestOptions } from 'node:http';
import { resolveConfig } from './config';
import { authorityOfRequestOptions, authorityOfUrl, gatewayRegion } from './gateway';
import { LlmGatewayInstrumentation } from './instrumentation';
import { PACKAGE_NAME } from './version';

/** What `register` loads; the install command it prints when the SDK is missing names all three. */
const SDK_NODE = '@opentelemetry/sdk-node';
const INSTRUMENTATION_HTTP = '@opentelemetry/instrumentation-http';
const INSTRUMENTATION_UNDICI = '@opentelemetry/instrumentation-undici';
const REGISTER_INSTALL_COMMAND = `npm install ${SDK_NODE} ${INSTRUMENTATION_HTTP} ${INSTRUMENTATION_UNDICI}`;

/** How long a signal waits for the last export before the process exits by it. */
const SIGNAL_FLUSH_TIMEOUT_MS = 5000;

if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') start();

function start(): void {
  const sdkNode = loadOptional<typeof SdkNode>(SDK_NODE);
  if (sdkNode === undefined) {
    // stderr rather than diag: no diag logger exists without the SDK, and the user asked for
    // telemetry they will not get. The application itself runs on, uninstrumented: a missing
    // telemetry package must not take a service down.
    process.stderr.write(
      `${PACKAGE_NAME}/register: ${SDK_NODE} is not installed, so this process runs without telemetry. Install it with: ${REGISTER_INSTALL_COMMAND}\n`,
    );
    return;
  }
  const undici = loadOptional<typeof InstrumentationUndici>(INSTRUMENTATION_UNDICI);
  const http = loadOptional<typeof InstrumentationHttp>(INSTRUMENTATION_HTTP);

  // The undici and http instrumentations are here for the HTTP child span of each gateway
  // call, and only for that: every other request and the application's own server keep
  // paying nothing (no span, no traceparent header). An app that wants all of its HTTP traced
  // starts its own NodeSDK with them and adds this instrumentation.
  const config = resolveConfig({});
  const isGateway = (authority: string | undefined) =>
    authority !== undefined && gatewayRegion(config, authority.toLowerCase()) !== undefined;
  const instrumentations: Instrumentation[] = [];
  if (undici) {
    const ignoreRequestHook = (request: { origin: string }) => !isGateway(authorityOfUrl(request.origin));
    instrumentations.push(new undici.UndiciInstrumentation({ ignoreRequestHook }));
  }
  if (http) {
    const ignoreOutgoingRequestHook = (request: RequestOptions) => !isGateway(authorityOfRequestOptions(request));
    instrumentations.push(
      new http.HttpInstrumentation({ disableIncomingRequestInstrumentation: true, ignoreOutgoingRequestHook }),
    );
  }
  // Ours last: its wrapper of http.request then sits above the http instrumentation's at once.
  instrumentations.push(new LlmGatewayInstrumentation());
  const sdk = new sdkNode.NodeSDK({ instrumentations });
  sdk.start();
  // After start(): the SDK has set the diag logger OTEL_LOG_LEVEL asks for.
  const missing = [undici ? [] : [INSTRUMENTATION_UNDICI], http ? [] : [INSTRUMENTATION_HTTP]].flat();
  if (missing.length > 0) {
    diag.info(
      `llm-gateway register: ${missing.join(' and ')} not installed: gateway spans have no HTTP child span (npm install ${missing.join(' ')})`,
    );
  }
  // The http instrumentation wraps node:http(s) at their next require. Requiring them now,
  // before the application loads, covers ES module apps too (`import http from 'node:http'`
  // passes no require hook) and settles every wrapper before the first call.
  require('node:http');
  require('node:https');
  flushOnExit(sdk);
}

/** The module, or undefined when it is not installed (any other failure to load it is thrown). */
function loadOptional<T>(name: string): T | undefined {
  try {
    return require(name) as T;
  } catch (error) {
    // A module that the package itself requires and cannot find is a broken install, not a missing package.
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'MODULE_NOT_FOUND' && message.includes(`'${name}'`)) return undefined;
    throw error;
  }
}

function flushOnExit(sdk: SdkNode.NodeSDK): void {
  let flushed: Promise<void> | undefined;
  const flush = (): Promise<void> =>
    (flushed ??= sdk
      .shutdown()
      .catch((error: unknown) => diag.error('llm-gateway register: could not flush telemetry', error)));

  // The event loop is empty: the export keeps it alive until done, then the process exits with
  // its own exit code. (process.exit() skips this: nothing asynchronous can run after it.)
  process.once('beforeExit', () => void flush());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, SIGNAL_FLUSH_TIMEOUT_MS).unref());
      void Promise.race([flush(), timeout]).finally(() => {
        // Alone on this signal, stand in for Node's default action: terminate by the same signal.
        // Otherwise the application's own handler decides.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    });
  }
}
