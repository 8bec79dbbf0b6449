import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { labelValuesQuery, loadDashboard, promQueries, ROOT, substitute, type PanelQuery } from './support/grafana';
import { failIfMissingInCi, findTool, freePort } from './support/prometheus';

// The Grafana dashboard against a real Prometheus fed by the demo: `npm run demo -- --loop`
// (its own simulated gateways, metrics on an @opentelemetry/exporter-prometheus endpoint, as
// docker-compose's demo-app serves them) is scraped every second; then every panel's PromQL runs
// through the HTTP API with the variables at "All" and must return data.
//
// A second scrape job reads the same endpoint with the two seconds histograms renamed to the
// names the OpenTelemetry Collector and Prometheus's OTLP receiver write (`..._seconds_bucket`):
// the dashboard must work with those too.

const DEMO_JOB = 'llm-gateway-demo';
const OTLP_NAMES_JOB = 'llm-gateway-demo-otlp-names';
/** What Grafana's $__rate_interval would be here: 4 scrape intervals is 4 s; a minute spans every iteration so far. */
const RATE_INTERVAL = '1m';
/** Iterations of the demo session before the queries run: two, so every counter has increased once. */
const ITERATIONS = 2;

const prometheus = findTool('prometheus');
failIfMissingInCi(prometheus);

const dashboard = loadDashboard();
const queries = promQueries(dashboard);

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface Outcome {
  series: number;
  finite: number;
  why?: string;
}

describe.runIf(prometheus.path !== undefined)('the Grafana dashboard on a real Prometheus fed by the demo', () => {
  let dir: string | undefined;
  let demo: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  let demoOutput = '';
  /** Demo sessions finished so far (the kept output is only its end). */
  let sessionsDone = 0;
  let serverLog = '';
  let promUrl = '';
  const outcomes = new Map<string, Outcome>();
  let semconv = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-gateway-dashboard-'));
    semconv = await readFile(join(ROOT, 'src/semconv.ts'), 'utf8');

    // The demo, as docker-compose's demo-app runs it but on loopback, with a 1 s pause between sessions.
    const metricsPort = await freePort();
    demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo/run.ts', '--loop', '--interval', '1'], {
      cwd: ROOT,
      // Nothing inherited: no OTEL_* or LLM_GATEWAY_DEMO_* of the test's environment.
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NO_COLOR: '1',
        OTEL_SERVICE_NAME: 'llm-gateway-demo',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const marker = 'Metric totals';
    const keepDemo = (chunk: Buffer) => {
      // Counted over the seam too: a chunk may end inside the marker.
      const seam = demoOutput.slice(-(marker.length - 1));
      sessionsDone += (seam + chunk.toString()).split(marker).length - 1;
      demoOutput = (demoOutput + chunk.toString()).slice(-20_000);
    };
    demo.stdout!.on('data', keepDemo);
    demo.stderr!.on('data', keepDemo);

    // The example configuration, pointed at the demo and sped up, plus the renamed job.
    const config = parse(await readFile(join(ROOT, 'examples/prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files?: string[];
      scrape_configs: {
        job_name: string;
        static_configs: { targets: string[] }[];
        metric_relabel_configs?: unknown[];
      }[];
    };
    config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
    delete config.rule_files;
    const targets = [{ targets: [`127.0.0.1:${metricsPort}`] }];
    expect(config.scrape_configs[0].job_name).toBe(DEMO_JOB);
    config.scrape_configs = [
      { ...config.scrape_configs[0], static_configs: targets },
      {
        job_name: OTLP_NAMES_JOB,
        static_configs: targets,
        metric_relabel_configs: [
          {
            source_labels: ['__name__'],
            regex: '(gen_ai_client_operation_(?:duration|time_to_first_chunk))_(bucket|count|sum)',
            target_label: '__name__',
            replacement: '${1}_seconds_${2}',
          },
        ],
      },
    ];
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    server = spawn(
      prometheus.path!,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    process.once('exit', killAll);
    const keepLog = (chunk: Buffer) => (serverLog = (serverLog + chunk.toString()).slice(-4000));
    server.stdout!.on('data', keepLog);
    server.stderr!.on('data', keepLog);

    const sessions = () => sessionsDone;
    await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 15_000);
    await waitFor(
      'both scrape jobs to be up',
      async () => Number((await query('count(up == 1)'))[0]?.value[1]) === 2,
      10_000,
    );
    // Sessions counted from the first scrape on: a counter bumped once per session (the fallback
    // call) must be seen before and after an increase for rate() to have one.
    const scrapedFrom = sessions();
    await waitFor(`${ITERATIONS} demo sessions while scraped`, () => sessions() >= scrapedFrom + ITERATIONS, 25_000);
    // Then a couple of scrapes (1 s apart) after the last session.
    await new Promise((r) => setTimeout(r, 2_500));

    for (const q of queries) outcomes.set(q.name, await evaluate(q, DEMO_JOB));
    // What the lead re-runs after merging: which panel queries return data, and why the others do not.
    console.info(
      [
        'dashboard panel queries on the demo (job llm-gateway-demo):',
        ...queries.map((q) => `  ${report(q.name, outcomes.get(q.name)!)}`),
      ].join('\n'),
    );
  }, 45_000);

  function killAll(): void {
    for (const child of [server, demo])
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }

  afterAll(async () => {
    process.removeListener('exit', killAll);
    for (const child of [demo, server]) {
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${promUrl}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error}`);
    return body.data;
  }

  async function query(promql: string): Promise<Sample[]> {
    return (await api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
  }

  async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await check()) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; Prometheus log:\n${serverLog}\ndemo output (end):\n${demoOutput.slice(-3000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Runs a panel query as Grafana would with every variable at "All" and job at `job`; says why when it is empty. */
  async function evaluate(q: PanelQuery, job: string): Promise<Outcome> {
    const expr = substitute(q.expr, dashboard, RATE_INTERVAL, { job });
    const result = await query(expr);
    const finite = result.filter((s) => Number.isFinite(Number(s.value[1]))).length;
    if (finite > 0) return { series: result.length, finite };
    return { series: result.length, finite, why: await whyEmpty(expr, result.length) };
  }

  /** The selectors of `expr` that match nothing, and the metric or label that makes them. */
  async function whyEmpty(expr: string, series: number): Promise<string> {
    const reasons: string[] = [];
    for (const [selector, name, body] of expr.matchAll(/([a-zA-Z_:][\w:]*)?\{([^}]*)\}/g)) {
      const matchers = [...body.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => ({
        label: m[1],
        text: m[0],
      }));
      const nameMatcher = matchers.find((m) => m.label === '__name__');
      const metric = name ?? nameMatcher?.text.replace(/^__name__=~?"(.*)"$/, '$1');
      if (metric === undefined || (await count(selector)) > 0) continue;
      const only = (...extra: string[]) =>
        name ? `${name}{${extra.join(', ')}}` : `{${[nameMatcher!.text, ...extra].join(', ')}}`;
      if ((await count(only())) === 0) {
        reasons.push(`no metric ${metric} in Prometheus${hint(metric)}`);
        continue;
      }
      for (const m of matchers.filter((m) => m.label !== '__name__')) {
        if ((await count(only(m.text))) > 0) continue;
        reasons.push(
          (await count(only(`${m.label}!=""`))) === 0
            ? `no ${metric} series has the label ${m.label}${hint(m.label)}`
            : `no ${metric} series with ${m.text}`,
        );
      }
    }
    if (reasons.length > 0) return [...new Set(reasons)].join('; ');
    return series > 0
      ? 'every selector matches, but every value is NaN or infinite (no increase in the window?)'
      : 'every selector matches, but the expression is empty';
  }

  /** Whether the instrumentation names the metric or attribute a Prometheus name comes from. */
  function hint(promName: string): string {
    const named = [...semconv.matchAll(/'([a-z_][\w.]*)'/g)]
      .map((m) => m[1])
      .find((n) => n.replace(/\./g, '_') === promName.replace(/_total$/, ''));
    return named
      ? ` (src/semconv.ts names ${named}: the demo recorded no point with it)`
      : ' (src/semconv.ts has no such name: not recorded by this build yet?)';
  }

  async function count(selector: string): Promise<number> {
    return Number((await query(`count(${selector})`))[0]?.value[1] ?? 0);
  }

  function report(name: string, outcome: Outcome): string {
    return outcome.why ? `NO DATA  ${name}: ${outcome.why}` : `data     ${name}: ${outcome.finite} series`;
  }

  it.each(queries.map((q) => [q.name, q] as const))('%s returns data', (_name, q) => {
    const outcome = outcomes.get(q.name)!;
    expect(outcome.why, report(q.name, outcome)).toBeUndefined();
    expect(outcome.finite).toBeGreaterThan(0);
  });

  it("fills the template variables with the demo's job, models and regions", async () => {
    const values = async (name: string) => {
      const variable = dashboard.templating.list.find((v) => v.name === name)!;
      const { selector, label } = labelValuesQuery(variable)!;
      const series = await api<Record<string, string>[]>(
        `/api/v1/series?match[]=${encodeURIComponent(substitute(selector, dashboard, RATE_INTERVAL))}`,
      );
      return [...new Set(series.map((s) => s[label]).filter(Boolean))].sort();
    };
    expect(await values('job')).toEqual([DEMO_JOB, OTLP_NAMES_JOB].sort());
    expect(await values('region')).toEqual(['eu', 'us']);
    expect(await values('model')).toEqual(
      expect.arrayContaining(['claude-sonnet-4-6', 'gemini-2.5-flash', 'gpt-5-mini']),
    );
  });

  it('works unchanged with the _seconds names of the OpenTelemetry Collector and the OTLP receiver', async () => {
    const names = new Set(await api<string[]>(`/api/v1/label/__name__/values`));
    expect(names).toContain('gen_ai_client_operation_duration_bucket');
    // The renamed job really has the other names, and only those.
    const renamed = await api<Record<string, string>[]>(
      `/api/v1/series?match[]=${encodeURIComponent(`{job="${OTLP_NAMES_JOB}", __name__=~"gen_ai_client_operation_.+"}`)}`,
    );
    const renamedNames = new Set(renamed.map((s) => s.__name__));
    expect(renamedNames).toContain('gen_ai_client_operation_duration_seconds_bucket');
    expect(renamedNames).toContain('gen_ai_client_operation_time_to_first_chunk_seconds_bucket');
    expect([...renamedNames].filter((n) => !n.includes('_seconds_'))).toEqual([]);
    // Every query that has data with the exporter's names has data with these.
    const seconds = queries.filter((q) => q.expr.includes('(_seconds)?'));
    expect(seconds.length).toBeGreaterThanOrEqual(6);
    const lost: string[] = [];
    for (const q of seconds) {
      if (outcomes.get(q.name)!.why) continue;
      const outcome = await evaluate(q, OTLP_NAMES_JOB);
      if (outcome.why) lost.push(report(q.name, outcome));
    }
    expect(lost).toEqual([]);
  });
});
