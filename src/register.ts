/**
 * Zero-code start, for `node --import opentelemetry-instrumentation-llm-gateway/register app.js`
 * (and `--require` for CommonJS apps): starts the OpenTelemetry NodeSDK, configured by the
 * standard OTEL_* variables alone (OTLP/HTTP export of traces, metrics and logs to
 * OTEL_EXPORTER_OTLP_ENDPOINT by default), with this instrumentation and the undici and http
 * instrumentations, so every GenAI span has the HTTP span of its request as a child.
 * Telemetry is flushed when the process runs out of work and on SIGTERM/SIGINT, and the
 * process then exits exactly as it would have without it.
 */
import { diag } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { resolveConfig } from './config';
import { authorityOfRequestOptions, authorityOfUrl, gatewayRegion } from './gateway';
import { LlmGatewayInstrumentation } from './instrumentation';

/** How long a signal waits for the last export before the process exits by it. */
const SIGNAL_FLUSH_TIMEOUT_MS = 5000;

if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') start();

function start(): void {
  // The undici and http instrumentations are here for the HTTP child span of each gateway
  // call, and only for that: every other request and the application's own server keep
  // paying nothing (no span, no traceparent header). An app that wants all of its HTTP traced
  // starts its own NodeSDK with them and adds this instrumentation.
  const config = resolveConfig({});
  const isGateway = (authority: string | undefined) => authority !== undefined && gatewayRegion(config, authority.toLowerCase()) !== undefined;
  const sdk = new NodeSDK({
    // Ours last: its wrapper of http.request then sits above the http instrumentation's at once.
    instrumentations: [
      new UndiciInstrumentation({ ignoreRequestHook: (request) => !isGateway(authorityOfUrl(request.origin)) }),
      new HttpInstrumentation({
        disableIncomingRequestInstrumentation: true,
        ignoreOutgoingRequestHook: (request) => !isGateway(authorityOfRequestOptions(request)),
      }),
      new LlmGatewayInstrumentation(),
    ],
  });
  sdk.start();
  // The http instrumentation wraps node:http(s) at their next require. Requiring them now,
  // before the application loads, covers ES module apps too (`import http from 'node:http'`
  // passes no require hook) and settles every wrapper before the first call.
  require('node:http');
  require('node:https');
  flushOnExit(sdk);
}

function flushOnExit(sdk: NodeSDK): void {
  let flushed: Promise<void> | undefined;
  const flush = (): Promise<void> =>
    (flushed ??= sdk.shutdown().catch((error: unknown) => diag.error('llm-gateway register: could not flush telemetry', error)));

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
