/**
 * `npm run demo`: no Docker, no API key. Starts two simulated gateways on loopback (one
 * labelled us, one eu), instruments this process, runs a scripted session and prints every
 * call as the span the instrumentation recorded, then the metric totals.
 *
 *   npm run demo                                   # once, then exit 0
 *   npm run demo -- --loop [--interval 15]         # again every 15 s until Ctrl-C / SIGTERM
 *
 * Environment:
 *   OTEL_EXPORTER_OTLP_ENDPOINT      also export traces and metrics there (OTLP/HTTP)
 *   OTEL_EXPORTER_OTLP_PROTOCOL      http/protobuf (default) or http/json
 *   OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER   otlp | prometheus (metrics) | none
 *   OTEL_EXPORTER_PROMETHEUS_HOST/PORT            the scrape endpoint (default port 9464)
 *   LLM_GATEWAY_DEMO_US_URL, LLM_GATEWAY_DEMO_EU_URL
 *                                    use running simulators (docker-compose) instead of starting two
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { GatewayHost } from '../../src';
import { startSimulatedGateway, type SimulatedGateway } from '../simulated-gateway/server';
import {
  diagnosticTotalLine,
  metricTotalLines,
  spanLines,
  stepHeading,
  styleFor,
  tableHeader,
  type Style,
} from './printer';
import { demoSession, type DemoGateways } from './session';
import { startDemoTelemetry, type DemoTelemetry } from './telemetry';

const USAGE = 'usage: run.ts [--loop] [--interval SECONDS]';

/** Per-model limit of the in-process simulators: small, so the burst reaches it quickly. */
const DEMO_RATE_LIMIT = 5;

interface Gateways extends DemoGateways {
  hosts: GatewayHost[];
  description: string;
  close(): Promise<void>;
}

function hostOf(url: string, name: string): string {
  try {
    return new URL(url).host;
  } catch {
    throw new Error(`${name} is not a URL: ${url}`);
  }
}

/** The running simulators named by the environment, or two new ones on loopback. */
async function gateways(env: NodeJS.ProcessEnv): Promise<Gateways> {
  const apiKey = 'demo-key';
  const usUrl = env.LLM_GATEWAY_DEMO_US_URL?.replace(/\/+$/, '');
  const euUrl = env.LLM_GATEWAY_DEMO_EU_URL?.replace(/\/+$/, '');
  if (usUrl || euUrl) {
    if (!usUrl || !euUrl) throw new Error('set both LLM_GATEWAY_DEMO_US_URL and LLM_GATEWAY_DEMO_EU_URL, or neither');
    const hosts = [
      { host: hostOf(usUrl, 'LLM_GATEWAY_DEMO_US_URL'), region: 'us' },
      { host: hostOf(euUrl, 'LLM_GATEWAY_DEMO_EU_URL'), region: 'eu' },
    ];
    return {
      us: usUrl,
      eu: euUrl,
      apiKey,
      hosts,
      description: `simulated gateways us ${usUrl}, eu ${euUrl}`,
      close: async () => {},
    };
  }
  const started: SimulatedGateway[] = [];
  try {
    // The EU one answers a little later, so the regions differ in the durations too.
    started.push(await startSimulatedGateway({ rateLimit: DEMO_RATE_LIMIT, latencyMs: 15, chunkDelayMs: 4 }));
    started.push(await startSimulatedGateway({ rateLimit: DEMO_RATE_LIMIT, latencyMs: 40, chunkDelayMs: 4 }));
  } catch (error) {
    await Promise.all(started.map((g) => g.close()));
    throw error;
  }
  const [us, eu] = started as [SimulatedGateway, SimulatedGateway];
  return {
    us: us.url,
    eu: eu.url,
    apiKey,
    hosts: [
      { host: `127.0.0.1:${us.port}`, region: 'us' },
      { host: `127.0.0.1:${eu.port}`, region: 'eu' },
    ],
    description: `simulated gateways on loopback: us ${us.url}, eu ${eu.url}`,
    close: async () => {
      await Promise.all(started.map((g) => g.close()));
    },
  };
}

// `npm run demo | head` closes the pipe early: stop quietly, as other CLIs do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

function write(lines: string | string[]): void {
  process.stdout.write(`${([] as string[]).concat(lines).join('\n')}\n`);
}

async function runSession(
  telemetry: DemoTelemetry,
  session: ReturnType<typeof demoSession>,
  style: Style,
): Promise<void> {
  write(tableHeader(style));
  for (const [index, step] of session.entries()) {
    write(['', stepHeading(index + 1, step.title, step.detail, style)]);
    const before = telemetry.spans().length;
    const calls = await step.run();
    const spans = (await telemetry.waitForSpans(before + calls))
      .slice(before)
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    for (const span of spans) write(spanLines(span, style));
    if (spans.length < calls) {
      write(
        style.red(
          `   ${calls} calls made, ${spans.length} spans recorded: is the gateway host among the instrumentation's hosts?`,
        ),
      );
    }
  }
  write([
    '',
    ...metricTotalLines(await telemetry.collectMetrics(), style),
    diagnosticTotalLine(telemetry.spans(), style),
  ]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      loop: { type: 'boolean', default: false },
      interval: { type: 'string', default: '15' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    write(USAGE);
    return;
  }
  const intervalSeconds = Number(values.interval);
  if (!Number.isFinite(intervalSeconds) || intervalSeconds <= 0)
    throw new Error(`--interval must be > 0 seconds, got ${values.interval}`);

  const style = styleFor(process.stdout);
  const target = await gateways(process.env);
  let telemetry: DemoTelemetry | undefined;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    telemetry = startDemoTelemetry(target.hosts);
    write([
      style.bold('LLM Gateway instrumentation demo'),
      style.dim(`${target.description}`),
      style.dim(`instrumentation hosts: ${target.hosts.map((h) => `${h.host}=${h.region}`).join(',')}`),
      ...telemetry.destinations.map((d) => style.dim(d)),
      'Every row below is one span the instrumentation recorded, read back from an in-memory exporter.',
      '',
    ]);
    const session = demoSession(target);
    for (let iteration = 1; !stop.signal.aborted; iteration++) {
      if (values.loop) write(['', style.bold(`--- iteration ${iteration}, ${new Date().toISOString()} ---`)]);
      telemetry.clearSpans();
      await runSession(telemetry, session, style);
      if (!values.loop) break;
      await sleep(intervalSeconds * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await telemetry?.shutdown();
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  console.error(USAGE);
  process.exitCode = 1;
});
