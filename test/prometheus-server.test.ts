import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { LlmGatewayInstrumentation } from '../src';
import { failIfMissingInCi, findTool, freePort } from './support/prometheus';

// A real Prometheus server on loopback scrapes an app whose calls to the simulated gateway run
// into 429s, evaluates examples/prometheus/alerts.yml (with `for:` shortened) and fires.

const ROOT = join(__dirname, '..');
const MODEL = 'gpt-5';
const REGION = 'eu';
const prometheus = findTool('prometheus');
failIfMissingInCi(prometheus);

interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

describe.runIf(prometheus.path !== undefined)('alert rules on a real Prometheus server', () => {
  let dir: string | undefined;
  let gateway: SimulatedGateway | undefined;
  let instrumentation: LlmGatewayInstrumentation | undefined;
  let meterProvider: MeterProvider | undefined;
  let metricsServer: Server | undefined;
  let server: ChildProcess | undefined;
  let serverLog = '';
  let promUrl = '';
  let job = '';

  beforeAll(async () => {
    const bin = prometheus.path!;
    dir = await mkdtemp(join(tmpdir(), 'llm-gateway-prometheus-'));
    gateway = await startSimulatedGateway({ rateLimit: 3, windowSeconds: 60 });

    // The app: this instrumentation, metrics served by the OpenTelemetry Prometheus exporter.
    const exporter = new PrometheusExporter({ preventServerStart: true });
    meterProvider = new MeterProvider({ readers: [exporter] });
    instrumentation = new LlmGatewayInstrumentation({
      enabled: false,
      hosts: [{ host: `127.0.0.1:${gateway.port}`, region: REGION }],
    });
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
    metricsServer = createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
    metricsServer.listen(0, '127.0.0.1');
    await once(metricsServer, 'listening');
    const appTarget = `127.0.0.1:${(metricsServer.address() as AddressInfo).port}`;

    // The same rules users deploy, every `for:` cut to 1 s so the test takes seconds, not minutes.
    const alerts = parse(await readFile(join(ROOT, 'examples/prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: { for?: string }[] }[];
    };
    for (const rule of alerts.groups.flatMap((g) => g.rules)) if (rule.for) rule.for = '1s';
    await writeFile(join(dir, 'alerts.yml'), stringify(alerts));
    // The example configuration, pointed at the app on loopback and sped up.
    const config = parse(await readFile(join(ROOT, 'examples/prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
    config.scrape_configs[0].static_configs = [{ targets: [appTarget] }];
    job = config.scrape_configs[0].job_name;
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    server = spawn(
      bin,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Should the test process end without afterAll (killed, crashed), take the server with it.
    process.once('exit', killServer);
    const keepLog = (chunk: Buffer) => (serverLog = (serverLog + chunk.toString()).slice(-4000));
    server.stdout!.on('data', keepLog);
    server.stderr!.on('data', keepLog);
    await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 15_000);
    await waitFor(
      'the first scrape of the app',
      async () => (await query(`up{job="${job}"} == 1`)).length === 1,
      15_000,
    );
  });

  function killServer(): void {
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
  }

  afterAll(async () => {
    process.removeListener('exit', killServer);
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = once(server, 'exit');
      server.kill('SIGTERM');
      const timer = setTimeout(() => server?.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    instrumentation?.disable();
    await new Promise((resolve) => (metricsServer ? metricsServer.close(resolve) : resolve(undefined)));
    await meterProvider?.shutdown();
    await gateway?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function chat(model: string, stream = false, extra: Record<string, unknown> = {}): Promise<number> {
    const response = await fetch(`${gateway!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'sim-key', 'content-type': 'application/json' },
      body: JSON.stringify({
        model,
        messages: [{ role: 'user', content: 'hello' }],
        ...(stream ? { stream: true } : {}),
        ...extra,
      }),
    });
    // Streams are read chunk by chunk, as streaming clients do.
    if (stream) for await (const _chunk of response.body as unknown as AsyncIterable<Uint8Array>);
    else await response.text();
    return response.status;
  }

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${promUrl}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error}`);
    return body.data;
  }

  async function query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    return (
      await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `/api/v1/query?query=${encodeURIComponent(promql)}`,
      )
    ).result;
  }

  async function waitFor(
    what: string,
    check: () => Promise<boolean>,
    timeoutMs: number,
    tick?: () => Promise<unknown>,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await check()) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; Prometheus log:\n${serverLog}`);
      await tick?.();
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('stores the metric names and labels the rules query', async () => {
    // A call that reads from the prompt cache and one a fallback serves: the cache-ratio and
    // fallback rules query what these record.
    expect(await chat('claude-sonnet-4-6', false, { x_sim: { cachedTokens: 8 } })).toBe(200);
    expect(await chat('claude-sonnet-4-6', true)).toBe(200);
    expect(
      await chat('gpt-5-mini', false, { fallbacks: [{ model: 'gpt-5' }], x_sim: { failModels: ['gpt-5-mini'] } }),
    ).toBe(200);
    const names = async () =>
      new Set(
        (
          await api<Record<string, string>[]>(
            `/api/v1/series?match[]=${encodeURIComponent('{__name__=~"gen_ai_.+|assemblyai_.+"}')}`,
          )
        ).map((s) => s.__name__),
      );
    await waitFor(
      'the call metrics to be scraped',
      async () => (await names()).has('gen_ai_client_operation_time_to_first_chunk_bucket'),
      10_000,
    );

    const stored = await names();
    const alerts = parse(await readFile(join(ROOT, 'examples/prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: { expr: string }[] }[];
    };
    const exprs = alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)).join('\n');
    const referenced = new Set(exprs.match(/\b(?:gen_ai_client|assemblyai_ratelimit)_\w+/g));
    expect(referenced.size).toBeGreaterThanOrEqual(5);
    for (const name of referenced) expect(stored, `${name} (from alerts.yml)`).toContain(name);
    // The JS exporter adds no unit suffix (`_seconds`), and `_total` only to counters (the usage details).
    const counters =
      /^gen_ai_client_inference_usage_(cache_read_input|cache_write_input|reasoning_output)_tokens_total$/;
    expect([...stored].filter((n) => n.includes('_seconds') || (n.endsWith('_total') && !counters.test(n)))).toEqual(
      [],
    );

    const [remaining] = await query(`assemblyai_ratelimit_remaining{gen_ai_request_model="claude-sonnet-4-6"}`);
    expect(remaining?.metric).toMatchObject({
      job,
      assemblyai_region: REGION,
      gen_ai_request_model: 'claude-sonnet-4-6',
      otel_scope_name: 'opentelemetry-instrumentation-llm-gateway',
    });
    expect(remaining?.value[1]).toBe('1');
  });

  it('fires the rate-limit alerts, naming the model and region, when calls run into 429s', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await chat(MODEL));
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);

    const wanted = ['LlmGatewayRateLimited', 'LlmGatewayRateLimitNearlyExhausted'];
    let alerts: PromAlert[] = [];
    const firing = (name: string) =>
      alerts.find(
        (a) => a.state === 'firing' && a.labels.alertname === name && a.labels.gen_ai_request_model === MODEL,
      );
    // The app keeps calling (and keeps being refused) while Prometheus scrapes and evaluates.
    await waitFor(
      `${wanted.join(' and ')} to fire`,
      async () => {
        alerts = (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
        return wanted.every((name) => firing(name));
      },
      25_000,
      () => chat(MODEL),
    );

    for (const name of wanted) {
      const alert = firing(name)!;
      expect(alert.labels).toMatchObject({
        alertname: name,
        severity: 'warning',
        job,
        gen_ai_request_model: MODEL,
        assemblyai_region: REGION,
      });
      expect(alert.annotations.summary).toContain(`${MODEL} in ${REGION}`);
      expect(alert.annotations.description).toContain('X-RateLimit-Reset');
    }
    // Quiet where it should be: no auth failure, no 5xx, and the model with headroom is not named.
    const others = alerts.filter(
      (a) => !wanted.includes(a.labels.alertname) || a.labels.gen_ai_request_model !== MODEL,
    );
    expect(others.map((a) => `${a.labels.alertname} ${a.labels.gen_ai_request_model}`)).toEqual([]);
  }, 45_000);
});
