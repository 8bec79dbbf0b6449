// docker-compose.yml, checked without a Docker engine: what the file says must hold on the host.
// Service hostnames become 127.0.0.1 and the fixed container ports become free ones; then the
// simulated gateways' and the demo app's own commands run here with the compose environment.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  DASHBOARD_FILE,
  DATASOURCES_FILE,
  GRAFANA_DIR,
  labelValuesQuery,
  loadDashboard,
  loadDatasources,
  PROVIDERS_FILE,
  promQueries,
  substitute,
  variableReferences,
  type DatasourceRef,
  type ProvisionedDatasource,
  type Target,
} from './support/grafana';

const ROOT = join(__dirname, '..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const PROMETHEUS_CONFIG = join(ROOT, 'examples/prometheus/prometheus.yml');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(COMPOSE_FILE, 'utf8')) as { services: Record<string, ComposeService> };
const services = compose.services;

/** `name:tag` with a version in the tag: never `latest`, never a bare name. */
function expectPinned(image: string, where: string): void {
  const tag = /^[^@\s]+:([\w][\w.-]*)(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1];
  expect(tag, `${where}: ${image} has no tag`).toBeDefined();
  expect(tag, `${where}: ${image}`).not.toBe('latest');
  expect(tag, `${where}: ${image} tag names no version`).toMatch(/\d+\.\d+/);
}

function dockerfileOf(service: ComposeService): string {
  return join(ROOT, service.build!.context, service.build!.dockerfile ?? 'Dockerfile');
}

/** `host:container[/proto]` port mappings, as container port numbers. */
function publishedPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((mapping) => Number(mapping.split(':').at(-1)!.split('/')[0]));
}

function argValue(command: string[], flag: string): string | undefined {
  const index = command.indexOf(flag);
  return index === -1 ? undefined : command[index + 1];
}

/** The port a built service listens on inside its container, from its command or environment. */
function listenPort(service: ComposeService): number | undefined {
  const fromArgs = argValue(service.command ?? [], '--port');
  if (fromArgs) return Number(fromArgs);
  const fromEnv = service.environment?.OTEL_EXPORTER_PROMETHEUS_PORT;
  return fromEnv ? Number(fromEnv) : undefined;
}

function dependencies(service: ComposeService): string[] {
  const dependsOn = service.depends_on ?? [];
  return Array.isArray(dependsOn) ? dependsOn : Object.keys(dependsOn);
}

describe('docker-compose.yml', () => {
  it('has the stack: Jaeger v2 with OTLP and UI, Prometheus, Grafana, the simulated gateways and the demo app', () => {
    expect(Object.keys(services).sort()).toEqual([
      'demo-app',
      'gateway-eu',
      'gateway-us',
      'grafana',
      'jaeger',
      'prometheus',
    ]);
    expect(services.jaeger.image).toMatch(/^jaegertracing\/jaeger:2\./);
    expect(publishedPorts(services.jaeger).sort()).toEqual([16686, 4317, 4318]);
    expect(services.prometheus.image).toMatch(/^prom\/prometheus:v\d/);
    // Grafana OSS (grafana/grafana is the OSS image; grafana/grafana-oss stopped at 12.4).
    expect(services.grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(publishedPorts(services.grafana)).toEqual([3000]);
    for (const name of ['gateway-us', 'gateway-eu']) {
      const command = services[name].command!;
      expect(command.slice(0, 4)).toEqual(['node', '--import', 'tsx', 'examples/simulated-gateway/cli.ts']);
      expect(command).toEqual(expect.arrayContaining(['--host', '0.0.0.0', '--allow-non-loopback', '--port', '8787']));
    }
    expect(argValue(services['gateway-us'].command!, '--region')).toBe('us');
    expect(argValue(services['gateway-eu'].command!, '--region')).toBe('eu');
    expect(services['demo-app'].command).toEqual(expect.arrayContaining(['examples/demo/run.ts', '--loop']));
  });

  it('pins every image, its own Dockerfile base image included', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image ?? service.build, `${name} has neither image nor build`).toBeDefined();
      if (service.image) expectPinned(service.image, name);
      if (service.build) {
        const dockerfile = readFileSync(dockerfileOf(service), 'utf8');
        const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
        expect(bases.length, `${name}: no FROM`).toBeGreaterThan(0);
        for (const base of bases) expectPinned(base, `${name} Dockerfile`);
      }
    }
  });

  it('builds from files that exist, and copies everything the commands run', () => {
    for (const [name, service] of Object.entries(services)) {
      if (!service.build) continue;
      expect(existsSync(dockerfileOf(service)), `${name}: ${dockerfileOf(service)}`).toBe(true);
      const dockerfile = readFileSync(dockerfileOf(service), 'utf8');
      const copied = [...dockerfile.matchAll(/^COPY\s+(.+)\s+\S+$/gm)].flatMap((m) => m[1].split(/\s+/));
      for (const source of copied)
        expect(existsSync(join(ROOT, service.build.context, source)), `COPY ${source}`).toBe(true);
      // Every file a command names is under a copied path.
      for (const file of (service.command ?? []).filter((arg) => /\.(ts|js|mjs)$/.test(arg))) {
        expect(existsSync(join(ROOT, file)), file).toBe(true);
        expect(
          copied.some((source) => file === source || file.startsWith(`${source}/`)),
          `${file} is not copied`,
        ).toBe(true);
      }
    }
  });

  it('mounts files that exist, and publishes the ports its services listen on', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const [hostPath] = volume.split(':');
        expect(existsSync(join(ROOT, hostPath)), `${name}: ${hostPath} does not exist`).toBe(true);
      }
      for (const dependency of dependencies(service)) expect(Object.keys(services)).toContain(dependency);
      if (service.build && service.ports) expect(publishedPorts(service)).toEqual([listenPort(service)]);
    }
  });

  it("gives Prometheus a config whose scrape targets are this stack's services and whose rule files are mounted", () => {
    const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
      rule_files?: string[];
      scrape_configs: { static_configs?: { targets: string[] }[] }[];
    };
    const targets = config.scrape_configs.flatMap((job) => job.static_configs ?? []).flatMap((c) => c.targets);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      const [host, port] = target.split(':');
      if (host === 'localhost' || host === '127.0.0.1') continue; // Prometheus scraping itself
      expect(services[host], `scrape target ${target} is not a compose service`).toBeDefined();
      expect(listenPort(services[host]), `scrape target ${target}`).toBe(Number(port));
    }
    const mounts = new Map((services.prometheus.volumes ?? []).map((v) => [v.split(':')[1], v.split(':')[0]]));
    const configMount = [...mounts.entries()].find(([, host]) => host === './examples/prometheus/prometheus.yml')?.[0];
    expect(configMount).toBe('/etc/prometheus/prometheus.yml');
    for (const ruleFile of config.rule_files ?? []) {
      const inContainer = posix.resolve(posix.dirname(configMount!), ruleFile);
      expect(mounts.get(inContainer), `rule file ${ruleFile} is not mounted at ${inContainer}`).toBeDefined();
      expect(existsSync(join(ROOT, mounts.get(inContainer)!))).toBe(true);
    }
  });

  it('passes promtool check config on the Prometheus config (and its rule files)', (context) => {
    const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (promtool.error) {
      // CI installs it (apt-get install -y prometheus); there its absence is a failure.
      if (process.env.CI) throw new Error('promtool is not installed: apt-get install -y prometheus');
      context.skip('promtool is not installed (apt-get install -y prometheus); skipped outside CI');
    }
    const result = spawnSync('promtool', ['check', 'config', PROMETHEUS_CONFIG], { encoding: 'utf8' });
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
  });

  it('is valid for docker compose itself, when the compose plugin is installed', (context) => {
    const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (version.status !== 0) context.skip('docker compose is not installed here');
    execFileSync('docker', ['compose', '-f', COMPOSE_FILE, 'config', '--quiet'], { cwd: ROOT });
  });
});

// ---------------------------------------------------------------------------------------------
// Grafana: provisioning files, the dashboard, and every query in it
// ---------------------------------------------------------------------------------------------

/** Container path -> host path of a service's bind mounts. */
function mounts(service: ComposeService): Map<string, string> {
  return new Map((service.volumes ?? []).map((v) => [v.split(':')[1], v.split(':')[0].replace(/^\.\//, '')]));
}

/** The host path a container path of `service` reads, through the mount that contains it. */
function hostPathOf(service: ComposeService, containerPath: string): string | undefined {
  for (const [inContainer, onHost] of mounts(service)) {
    if (containerPath === inContainer) return onHost;
    if (containerPath.startsWith(`${inContainer}/`))
      return posix.join(onHost, containerPath.slice(inContainer.length + 1));
  }
  return undefined;
}

/** The promtool binary, or a skip (a failure under CI) when it is not installed. */
function requirePromtool(context: { skip: (note: string) => void }): void {
  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (!promtool.error) return;
  if (process.env.CI) throw new Error('promtool is not installed: apt-get install -y prometheus');
  context.skip('promtool is not installed (apt-get install -y prometheus); skipped outside CI');
}

describe("docker-compose.yml's Grafana", () => {
  const grafana = services.grafana;
  const dashboard = loadDashboard();
  const datasources = loadDatasources();
  const byUid = new Map(datasources.map((d) => [d.uid, d]));
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));

  /** The provisioned data source a panel or target reference resolves to, directly or through a datasource variable. */
  function resolve(ref: DatasourceRef | undefined, where: string): ProvisionedDatasource {
    expect(ref, `${where}: no datasource`).toBeDefined();
    let uid = ref!.uid;
    const variable = /^\$\{?(\w+)\}?$/.exec(uid)?.[1];
    if (variable) {
      const v = variables.get(variable);
      expect(v?.type, `${where}: ${uid} is not a datasource variable`).toBe('datasource');
      expect(v!.query, `${where}: variable ${variable} lists ${v!.query} data sources`).toBe(ref!.type);
      uid = String(v!.current?.value);
    }
    const datasource = byUid.get(uid);
    expect(datasource, `${where}: datasource uid ${uid} is not provisioned in ${DATASOURCES_FILE}`).toBeDefined();
    expect(datasource!.type, where).toBe(ref!.type);
    return datasource!;
  }

  it('mounts the provisioning and dashboard directories where Grafana and the provider read them, for anonymous viewers', () => {
    expect(hostPathOf(grafana, '/etc/grafana/provisioning')).toBe(`${GRAFANA_DIR}/provisioning`);
    const providers = (
      parse(readFileSync(join(ROOT, PROVIDERS_FILE), 'utf8')) as {
        providers: { type: string; options: { path: string } }[];
      }
    ).providers;
    expect(providers).toHaveLength(1);
    expect(providers[0].type).toBe('file');
    const dashboardsDir = hostPathOf(grafana, providers[0].options.path);
    expect(dashboardsDir, `provider path ${providers[0].options.path} is not mounted`).toBe(
      posix.dirname(DASHBOARD_FILE),
    );
    // Every file the provider loads is a dashboard that parses, with its own uid.
    const files = readdirSync(join(ROOT, dashboardsDir!));
    expect(files).toContain(posix.basename(DASHBOARD_FILE));
    const uids = files.map(
      (f) => (JSON.parse(readFileSync(join(ROOT, dashboardsDir!, f), 'utf8')) as { uid: string }).uid,
    );
    expect(new Set(uids).size).toBe(files.length);
    // The home page is the dashboard; anyone can look without logging in, nobody anonymous can save.
    const env = grafana.environment ?? {};
    expect(hostPathOf(grafana, env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH)).toBe(DASHBOARD_FILE);
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(env.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    expect(dependencies(grafana).sort()).toEqual(['jaeger', 'prometheus']);
  });

  it("provisions Prometheus and Jaeger at this stack's services, with Prometheus's scrape interval", () => {
    expect(datasources.map((d) => d.type).sort()).toEqual(['jaeger', 'prometheus']);
    expect(byUid.size).toBe(datasources.length);
    const listening: Record<string, number[]> = { prometheus: [9090], jaeger: publishedPorts(services.jaeger) };
    for (const datasource of datasources) {
      const url = new URL(datasource.url);
      expect(services[url.hostname], `${datasource.name}: ${url.hostname} is not a compose service`).toBeDefined();
      expect(listening[url.hostname], `${datasource.name}: ${datasource.url}`).toContain(Number(url.port));
    }
    const prometheusConfig = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as { global: { scrape_interval: string } };
    expect(datasources.find((d) => d.type === 'prometheus')!.jsonData?.timeInterval).toBe(
      prometheusConfig.global.scrape_interval,
    );
    // Span -> metrics links go to the provisioned Prometheus, with span attributes mapped to labels.
    const toMetrics = datasources.find((d) => d.type === 'jaeger')!.jsonData?.tracesToMetrics;
    expect(byUid.get(toMetrics!.datasourceUid)?.type).toBe('prometheus');
    expect(toMetrics!.tags).toEqual(
      expect.arrayContaining([
        { key: 'gen_ai.request.model', value: 'gen_ai_request_model' },
        { key: 'assemblyai.region', value: 'assemblyai_region' },
      ]),
    );
  });

  it('has a dashboard whose every panel and target reads a provisioned data source', () => {
    expect(dashboard.uid).toBe('llm-gateway');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      const where = `panel ${panel.id} "${panel.title}"`;
      const datasource = resolve(panel.datasource, where);
      expect(panel.targets.length, where).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect(resolve(target.datasource, `${where} [${target.refId}]`).uid).toBe(datasource.uid);
        if (datasource.type === 'prometheus') expect(target.expr, `${where} [${target.refId}]`).toBeTruthy();
        if (datasource.type === 'jaeger')
          expect(target.queryType === 'search' && target.service, `${where} [${target.refId}]`).toBeTruthy();
      }
    }
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query'))
      resolve(variable.datasource, `variable ${variable.name}`);
  });

  it('uses only template variables it defines, and links to Jaeger searches that decode', () => {
    const texts = [
      ...dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [t.expr ?? '', t.service ?? '', t.tags ?? ''])),
      ...dashboard.templating.list.map((v) => (v.type === 'query' ? v.query : '')),
    ];
    for (const text of texts)
      for (const name of variableReferences(text)) expect(variables.has(name), `$${name} in ${text}`).toBe(true);
    const links = dashboard.panels.flatMap((p) =>
      (p.fieldConfig?.defaults?.links ?? []).map((l) => ({ panel: p, ...l })),
    );
    expect(links.length).toBeGreaterThanOrEqual(3);
    for (const link of links) {
      const url = new URL(link.url, 'http://grafana.invalid');
      expect(url.pathname, link.title).toBe('/explore');
      // Grafana fills in ${...} before the link is followed: here every placeholder gets a sample value.
      const panes = JSON.parse(url.searchParams.get('panes')!.replace(/\$\{[^}]+\}/g, 'x')) as Record<
        string,
        { datasource: string; queries: Target[] }
      >;
      const [pane] = Object.values(panes);
      const raw = decodeURIComponent(link.url);
      expect(raw, link.title).toContain('"datasource":"${jaeger}"');
      expect(pane.queries[0]).toMatchObject({ queryType: 'search', datasource: { type: 'jaeger' } });
      expect(raw, link.title).toMatch(/"service":"\$\{service\}"/);
      // The placeholders it uses are labels of the panel's series.
      for (const label of raw.matchAll(/\$\{__field\.labels\.(\w+)\}/g)) {
        expect(
          link.panel.targets.some((t) => t.expr?.includes(`by (`) && t.expr.includes(label[1])),
          `${link.title}: ${label[1]}`,
        ).toBe(true);
      }
    }
  });

  it('has PromQL that promtool accepts in every target, variable and span-to-metrics query', (context) => {
    requirePromtool(context);
    const queries = [
      ...promQueries(dashboard).map((q) => ({ name: q.name, expr: substitute(q.expr, dashboard, '5m') })),
      // A variable's series selector, as a query of its own.
      ...dashboard.templating.list
        .map((v) => ({ v, lv: v.type === 'query' ? labelValuesQuery(v) : undefined }))
        .filter(({ lv }) => lv !== undefined)
        .map(({ v, lv }) => ({
          name: `variable ${v.name}`,
          expr: `count(${substitute(lv!.selector, dashboard, '5m')})`,
        })),
      ...(datasources.find((d) => d.type === 'jaeger')!.jsonData?.tracesToMetrics?.queries ?? []).map((q) => ({
        name: `Jaeger tracesToMetrics "${q.name}"`,
        expr: q.query.replace('$__tags', 'gen_ai_request_model="m", assemblyai_region="us"'),
      })),
    ];
    expect(queries.length).toBeGreaterThanOrEqual(15);
    for (const { expr } of queries) expect(expr).not.toMatch(/\$/);
    const dir = mkdtempSync(join(tmpdir(), 'llm-gateway-grafana-'));
    try {
      const rules = queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr }));
      writeFileSync(join(dir, 'queries.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
      const result = spawnSync('promtool', ['check', 'rules', join(dir, 'queries.yml')], { encoding: 'utf8' });
      // On failure promtool names the rule by index: map it back to its panel.
      const output = `${result.stdout}${result.stderr}`.replace(
        /dashboard:query_(\d+)/g,
        (_, i: string) => queries[Number(i)].name,
      );
      expect(result.status, output).toBe(0);
      expect(output).toContain(`SUCCESS: ${queries.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The services' commands, run on the host
// ---------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Running {
  child: ChildProcess;
  output(): string;
}

/** Runs a compose command on the host: `node` is this Node, the working directory the image's. */
function run(command: string[], env: Record<string, string> = {}): Running {
  const [program, ...args] = command;
  expect(program).toBe('node');
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return { child, output: () => output };
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(running: Running): Promise<number | null> {
  if (running.child.exitCode !== null) return running.child.exitCode;
  const closed = once(running.child, 'close');
  running.child.kill('SIGTERM');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 5_000);
  const [code] = (await closed) as [number | null];
  clearTimeout(timer);
  return code;
}

describe("docker-compose.yml's demo-app on the host", () => {
  const started: Running[] = [];
  let otlp: Server | undefined;
  afterAll(async () => {
    await Promise.all(started.map(stop));
    otlp?.closeAllConnections();
    await new Promise((resolve) => (otlp ? otlp.close(resolve) : resolve(undefined)));
  });

  it('exports spans over OTLP/HTTP to the Jaeger address and serves its metrics where Prometheus scrapes, until SIGTERM', async () => {
    // Jaeger's OTLP/HTTP receiver, as far as the demo can tell: it records what it is sent.
    const requests: { path: string; contentType: string; body: Buffer }[] = [];
    const record = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      requests.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: Buffer.concat(chunks),
      });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    };
    // A body that cannot be read ends the request's socket: the exporter sees a failed export.
    otlp = createServer((req, res) => void record(req, res).catch(() => res.destroy()));
    otlp.listen(0, '127.0.0.1');
    await once(otlp, 'listening');

    // service:containerPort -> 127.0.0.1:hostPort, for every address the compose file uses.
    const addresses = new Map<string, string>([['jaeger:4318', `127.0.0.1:${(otlp.address() as AddressInfo).port}`]]);
    for (const name of ['gateway-us', 'gateway-eu']) {
      const service = services[name];
      const port = await freePort();
      addresses.set(`${name}:${listenPort(service)}`, `127.0.0.1:${port}`);
      const command = service.command!.map((arg) =>
        arg === '0.0.0.0' ? '127.0.0.1' : arg === String(listenPort(service)) ? String(port) : arg,
      );
      const gateway = run(command);
      started.push(gateway);
      await waitFor(`${name} to listen`, () => gateway.output().includes('listening on'));
      // The compose healthcheck, pointed at the host port.
      const [kind, program, ...healthArgs] = service.healthcheck!.test;
      expect([kind, program]).toEqual(['CMD', 'node']);
      const health = spawnSync(
        process.execPath,
        healthArgs.map((a) => a.replace('127.0.0.1:8787', `127.0.0.1:${port}`)),
        {
          encoding: 'utf8',
        },
      );
      expect(health.status, `${name} healthcheck`).toBe(0);
    }

    const app = services['demo-app'];
    const metricsPort = await freePort();
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(app.environment ?? {})) {
      let hostValue = String(value);
      for (const [from, to] of addresses) hostValue = hostValue.replace(from, to);
      env[key] = hostValue;
    }
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).not.toContain('jaeger');
    expect(env.LLM_GATEWAY_DEMO_US_URL).not.toContain('gateway-us');
    env.OTEL_EXPORTER_PROMETHEUS_HOST = '127.0.0.1';
    env.OTEL_EXPORTER_PROMETHEUS_PORT = String(metricsPort);
    const demo = run(app.command!, env);
    started.push(demo);

    // The spans reach the OTLP endpoint as protobuf: the strings are there as they are.
    const traces = await waitFor('spans at the OTLP endpoint', () => {
      const found = requests.filter((r) => r.path === '/v1/traces');
      const all = Buffer.concat(found.map((r) => r.body)).toString('latin1');
      return [
        'chat claude-sonnet-4-6',
        'chat gemini-2.5-flash',
        'assemblyai.request_id',
        'rate_limited',
        'llm-gateway-demo',
      ].every((s) => all.includes(s))
        ? found
        : undefined;
    });
    expect(traces.every((r) => r.contentType === 'application/x-protobuf')).toBe(true);

    // What Prometheus scrapes, with the rate-limit and error labels the alert rules use.
    const metrics = await waitFor('metrics on the scrape endpoint', async () => {
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      return text.includes('error_type="upstream_unavailable"') ? text : undefined;
    });
    expect(metrics).toMatch(/^gen_ai_client_operation_duration\S*_count\{[^}]*error_type="rate_limited"/m);
    expect(metrics).toMatch(/^assemblyai_ratelimit_remaining\{[^}]*gen_ai_request_model="gemini-2.5-flash"/m);
    expect(metrics).toContain('assemblyai_region="eu"');

    // The loop prints what `npm run demo` prints, and ends cleanly on SIGTERM (docker compose stop).
    await waitFor('the first iteration', () => demo.output().includes('Metric totals'));
    expect(demo.output()).toContain('--- iteration 1');
    expect(demo.output()).not.toContain('spans recorded');
    expect(await stop(demo)).toBe(0);
    for (const gateway of started.slice(0, 2)) expect(await stop(gateway)).toBe(0);
  });
});
