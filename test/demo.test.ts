// `npm run demo`, end to end, as a newcomer runs it: a child process, no Docker, no API key.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { histogramQuantile, styleFor } from '../examples/demo/printer';

const ROOT = join(__dirname, '..');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEED_REQUEST_ID = /^req_[0-9A-Z]{26}$/;

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a user's shell, without anything that would change what the demo does. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('OTEL_') || key.startsWith('LLM_GATEWAY_DEMO_') || key === 'NO_COLOR' || key === 'FORCE_COLOR')
      continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function runDemo(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<DemoRun> {
  const child = spawn('npm', ['run', '--silent', 'demo'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

interface Row {
  model: string;
  region: string;
  status: string;
  errorCode?: string;
  ratelimit: string;
  tokens: string;
  cached: string;
  fallback: string;
  requestId: string;
  /** The dim lines printed under the row (error message, diagnostics, served by). */
  notes: string[];
}

const ROW =
  /^ {3}(?<model>[a-z0-9.-]+) +(?<region>us|eu) +(?<status>\d{3})(?: (?<errorCode>[a-z_]+))? +(?<ratelimit>-?\d+\/\d+|-) +(?<tokens>\d+\/\d+|-) +(?<cached>\d+|-) +(?<fallback>yes|no|-) +[\d.]+ m?s {2}(?<requestId>\S+)$/;

/** The rows printed under each numbered step heading, by heading. */
function rowsByStep(stdout: string): Map<string, Row[]> {
  const steps = new Map<string, Row[]>();
  let current: Row[] | undefined;
  for (const line of stdout.split('\n')) {
    const heading = /^\d+\. (.+?) {2}/.exec(line);
    if (heading) {
      current = [];
      steps.set(heading[1], current);
      continue;
    }
    const match = ROW.exec(line);
    if (match && current) current.push({ ...(match.groups as unknown as Row), notes: [] });
    else if (/^ {5}\S/.test(line) && current && current.length > 0) current.at(-1)!.notes.push(line.trim());
  }
  return steps;
}

/** Exit 0 and nothing on stderr but the tooling's own notes (npm warnings, with-node's provisioning). */
function expectNoErrors(run: DemoRun): void {
  const complaints = run.stderr
    .split('\n')
    .filter((line) => line.trim() && !/^(npm (warn|notice)|with-node:)/i.test(line));
  expect(complaints).toEqual([]);
  expect(run.code).toBe(0);
}

function portsOfSimulators(stdout: string): number[] {
  return [...stdout.matchAll(/(?:us|eu) http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function expectEveryScriptedCall(stdout: string): Map<string, Row[]> {
  const steps = rowsByStep(stdout);
  expect([...steps.keys()]).toEqual([
    'A US call',
    'An EU call',
    'A stream',
    'A burst into 429s',
    'A misspelled auth header',
    'An upstream failure',
    'A cached prompt',
    'A fallback',
  ]);

  const [usCall] = steps.get('A US call')!;
  expect(usCall).toMatchObject({ model: 'claude-sonnet-4-6', region: 'us', status: '200', ratelimit: '4/5' });
  expect(usCall.requestId).toMatch(UUID);
  expect(usCall.tokens).toMatch(/^\d+\/\d+$/);

  const [euCall] = steps.get('An EU call')!;
  expect(euCall).toMatchObject({ model: 'claude-sonnet-4-6', region: 'eu', status: '200', ratelimit: '4/5' });
  expect(euCall.requestId).toMatch(UUID);

  const [stream] = steps.get('A stream')!;
  expect(stream).toMatchObject({ model: 'gpt-5-mini', region: 'us', status: '200', ratelimit: '4/5' });
  expect(stream.requestId).toMatch(UUID);
  expect(stream.tokens).toMatch(/^\d+\/\d+$/);

  const burst = steps.get('A burst into 429s')!;
  expect(burst.map((r) => r.status)).toEqual(['200', '200', '200', '200', '200', '429', '429']);
  expect(burst.map((r) => r.ratelimit)).toEqual(['4/5', '3/5', '2/5', '1/5', '0/5', '-1/5', '-2/5']);
  for (const row of burst) {
    expect(row).toMatchObject({ model: 'gemini-2.5-flash', region: 'us' });
    expect(row.requestId).toMatch(UUID);
  }
  expect(burst.filter((r) => r.status === '429').map((r) => r.errorCode)).toEqual(['rate_limited', 'rate_limited']);

  const [unauthorized] = steps.get('A misspelled auth header')!;
  expect(unauthorized).toMatchObject({ region: 'us', status: '401', errorCode: 'unauthorized', ratelimit: '-' });
  expect(unauthorized.requestId).toMatch(UUID);

  const [upstream] = steps.get('An upstream failure')!;
  expect(upstream).toMatchObject({
    model: 'claude-opus-4-6',
    region: 'us',
    status: '503',
    errorCode: 'upstream_unavailable',
  });
  expect(upstream.requestId).toMatch(SEED_REQUEST_ID);

  const cached = steps.get('A cached prompt')!;
  expect(cached.map((r) => [r.model, r.region, r.status, r.ratelimit])).toEqual([
    ['claude-opus-4-6', 'us', '200', '4/5'],
    ['claude-opus-4-6', 'us', '200', '3/5'],
  ]);
  for (const row of cached) expect(row.requestId).toMatch(UUID);

  const [fallback] = steps.get('A fallback')!;
  expect(fallback).toMatchObject({ model: 'claude-haiku-4-5-20251001', region: 'us', status: '200', ratelimit: '4/5' });
  expect(fallback.notes).toContain('-> served by gpt-5');

  expect(stdout).toContain('15: ok 11, rate_limited 2, unauthorized 1, upstream_unavailable 1');
  // The troubleshooting-guide diagnostics: on the calls that made the mistakes, and counted.
  expect(stdout).toMatch(/! auth\.header_misspelled: Header "authorisation"/);
  expect(stdout).toMatch(/! ratelimit\.exceeded: Rate limited on model "gemini-2\.5-flash"/);
  // The openai SDK's Bearer prefix is accepted: no warning on its successful calls.
  expect(stdout).toMatch(
    /diagnostics \(span events\) +4: auth\.header_misspelled 1, gateway\.server_error 1, ratelimit\.exceeded 2/,
  );
  expect(stdout).not.toContain('spans recorded');
  return steps;
}

describe('npm run demo', () => {
  let run: DemoRun;
  beforeAll(async () => {
    run = await runDemo(cleanEnv());
  }, 90_000);

  it('prints every scripted call with its request_id, model, region, error code and rate-limit state, and exits 0', async () => {
    expectNoErrors(run);
    expectEveryScriptedCall(run.stdout);
    expect(run.stdout).toMatch(/tokens \(token\.usage sum\) +\d+ input, \d+ output/);
    expect(run.stdout).toMatch(/duration p50 \/ p95 .+ms/);
    // Not a terminal: plain text.
    expect(run.stdout).not.toContain('\u001b[');

    // Both simulated gateways lived inside the demo's process and went with it.
    const ports = portsOfSimulators(run.stdout);
    expect(ports).toHaveLength(2);
    for (const port of ports) expect(await isListening(port)).toBe(false);
  });

  it('shows the cached tokens and the fallback from the span attributes', () => {
    const steps = rowsByStep(run.stdout);
    const [first, second] = steps.get('A cached prompt')!;
    expect(first.cached).toBe('0');
    expect(Number(second.cached)).toBeGreaterThan(100);
    // Cached tokens are a part of the input tokens, never added to them.
    expect(Number(second.cached)).toBeLessThanOrEqual(Number(second.tokens.split('/')[0]));
    expect([first.fallback, second.fallback]).toEqual(['-', '-']);
    const [fallback] = steps.get('A fallback')!;
    expect(fallback.fallback).toBe('yes');
    const [usCall] = steps.get('A US call')!;
    expect(usCall.fallback).toBe('-');
    expect(run.stdout).toMatch(/cached input tokens \(cache_read counter\) +[1-9]\d*/);
  });

  describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    let receiver: Server | undefined;
    afterEach(async () => {
      receiver?.closeAllConnections();
      await new Promise((resolve) => receiver?.close(resolve));
    });

    it('also exports its spans and metrics there over OTLP/HTTP (http/json)', async () => {
      const received: { path: string; contentType: string; body: any }[] = [];
      const record = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        received.push({
          path: req.url ?? '',
          contentType: req.headers['content-type'] ?? '',
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      };
      // A body that cannot be read or is not JSON ends the request's socket: the demo reports
      // a failed export, and what the test expects to have received is missing.
      receiver = createServer((req, res) => void record(req, res).catch(() => res.destroy()));
      receiver.listen(0, '127.0.0.1');
      await once(receiver, 'listening');
      const { port } = receiver.address() as AddressInfo;

      const run = await runDemo(
        cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
      );
      expectNoErrors(run);
      expect(run.stdout).toContain(`traces  -> OTLP http/json http://127.0.0.1:${port}/v1/traces`);
      const printedIds = [...expectEveryScriptedCall(run.stdout).values()].flat().map((row) => row.requestId);

      const traces = received.filter((r) => r.path === '/v1/traces');
      expect(traces.length).toBeGreaterThan(0);
      expect(traces.every((r) => r.contentType.startsWith('application/json'))).toBe(true);
      const spans = traces.flatMap((r) =>
        r.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)),
      );
      expect(spans).toHaveLength(15);
      const attribute = (span: any, key: string) => span.attributes.find((a: any) => a.key === key)?.value;
      const exportedIds = spans.map((span: any) => attribute(span, 'assemblyai.request_id')?.stringValue);
      expect(exportedIds.sort()).toEqual([...printedIds].sort());
      expect(new Set(spans.map((span: any) => span.name))).toEqual(
        new Set([
          'chat claude-sonnet-4-6',
          'chat gpt-5-mini',
          'chat gemini-2.5-flash',
          'chat claude-opus-4-6',
          'chat claude-haiku-4-5-20251001',
        ]),
      );
      expect(new Set(spans.map((span: any) => attribute(span, 'assemblyai.region')?.stringValue))).toEqual(
        new Set(['us', 'eu']),
      );
      const serviceNames = traces.flatMap((r) =>
        r.body.resourceSpans.map(
          (rs: any) => rs.resource.attributes.find((a: any) => a.key === 'service.name')?.value.stringValue,
        ),
      );
      expect(new Set(serviceNames)).toEqual(new Set(['llm-gateway-demo']));

      const metricNames = received
        .filter((r) => r.path === '/v1/metrics')
        .flatMap((r) => r.body.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics)))
        .map((metric: any) => metric.name);
      expect(metricNames).toEqual(
        expect.arrayContaining([
          'gen_ai.client.operation.duration',
          'gen_ai.client.token.usage',
          'assemblyai.ratelimit.remaining',
        ]),
      );
    });
  });
});

describe('the demo printer', () => {
  it('colours only a terminal, and never with NO_COLOR set', () => {
    expect(styleFor({ isTTY: true }, {}).red('x')).toBe('\u001b[31mx\u001b[39m');
    expect(styleFor({ isTTY: true }, { NO_COLOR: '' }).red('x')).toBe('x');
    expect(styleFor({ isTTY: true }, { NO_COLOR: '1' }).red('x')).toBe('x');
    expect(styleFor({ isTTY: false }, {}).red('x')).toBe('x');
    expect(styleFor({}, {}).red('x')).toBe('x');
  });

  it('estimates quantiles from histogram buckets as histogram_quantile does, within the recorded min and max', () => {
    // 10 values: 4 in (0, 0.01], 4 in (0.01, 0.02], 2 in (0.02, 0.04].
    const histogram = {
      buckets: { boundaries: [0.01, 0.02, 0.04], counts: [4, 4, 2, 0] },
      count: 10,
      sum: 0.15,
      min: 0.005,
      max: 0.03,
    };
    expect(histogramQuantile(0.5, histogram)).toBeCloseTo(0.0125);
    expect(histogramQuantile(0.95, histogram)).toBeCloseTo(0.03); // 0.035 by interpolation, clamped to max
    expect(histogramQuantile(0.1, histogram)).toBeCloseTo(0.00625);
    expect(
      histogramQuantile(0.5, { ...histogram, count: 0, buckets: { boundaries: [0.01], counts: [0, 0] } }),
    ).toBeUndefined();
  });
});
