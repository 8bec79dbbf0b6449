/**
 * The client version matrix: installs each client version into a scratch app under
 * .cache/versions/<client>-<version>/ (exact versions, reused when present) and runs the client
 * cases (test/versions/client.cases.ts: those of test/clients.test.ts) with it against the
 * simulated gateway, with the instrumentation from src/. One line per client version, then a
 * summary line `N passed, N failed, N skipped` (counting tests).
 *
 *   npm run test:versions                       # every version in MATRIX
 *   npm run test:versions -- --latest           # the newest of each client (what CI runs)
 *   npm run test:versions -- openai undici      # only these clients
 *   npm run test:versions -- axios@1.6.0        # one version, in the matrix or not
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MATRIX_CLIENTS, type MatrixClient } from '../test/versions/clients';

const ROOT = join(__dirname, '..');
const CACHE = join(ROOT, '.cache', 'versions');
const run = promisify(execFile);

/**
 * Each client's tested versions, oldest first: a major (its newest release is tested) or an
 * exact version. The last one of each client is its newest, which `--latest` runs.
 */
const MATRIX: Record<MatrixClient, string[]> = {
  // v4 sends with node-fetch over node:http; v5 on with the global fetch.
  openai: ['4', '5', '6', '7'],
  // The first 1.x release: it still passes every case on Node 22, 24 and 26.
  axios: ['1.0.0', '1'],
  // 3 is an ES module only (loaded with require(esm)).
  'node-fetch': ['2', '3'],
  // 4.38.0: the first release with `client.llmGateway` and `llmGatewayBaseUrl`.
  assemblyai: ['4.38.0', '4'],
  // Its own fetch and request(), seen only through undici's diagnostics channels.
  undici: ['6', '7', '8'],
};

interface Target {
  client: MatrixClient;
  /** As asked: a major or an exact version. */
  spec: string;
}

interface Outcome {
  client: MatrixClient;
  version: string;
  passed: number;
  failed: number;
  skipped: number;
  /** Why it failed before any test ran, or which tests failed. */
  details: string[];
}

function targetsFromArgs(args: string[]): Target[] {
  const latest = args.includes('--latest');
  const filters = args.filter((a) => a !== '--latest');
  for (const a of filters) {
    const client = a.split('@')[0];
    if (!(MATRIX_CLIENTS as readonly string[]).includes(client)) {
      throw new Error(
        `unknown client ${a}; choose from ${MATRIX_CLIENTS.join(', ')} (or client@version), and --latest`,
      );
    }
  }
  const targets: Target[] = [];
  for (const client of MATRIX_CLIENTS) {
    const exact = filters.filter((f) => f.startsWith(`${client}@`)).map((f) => f.slice(client.length + 1));
    if (filters.length > 0 && exact.length === 0 && !filters.includes(client)) continue;
    const specs = exact.length > 0 ? exact : latest ? MATRIX[client].slice(-1) : MATRIX[client];
    for (const spec of specs) targets.push({ client, spec });
  }
  return targets;
}

/** The newest published version matching `spec`, or (offline) the newest one already installed. */
async function resolveVersion(target: Target): Promise<string> {
  if (/^\d+\.\d+\.\d+$/.test(target.spec)) return target.spec;
  try {
    const { stdout } = await run('npm', ['view', `${target.client}@${target.spec}`, 'version', '--json'], {
      cwd: CACHE,
    });
    const found = JSON.parse(stdout) as string | string[];
    // npm lists them in publication order, not semver order; prereleases are not tested.
    const versions = (Array.isArray(found) ? found : [found])
      .filter((v) => /^\d+\.\d+\.\d+$/.test(v))
      .sort(compareVersions);
    if (versions.length > 0) return versions.at(-1)!;
  } catch {
    // Offline: fall through to the cache.
  }
  const cached = readdirSync(CACHE)
    .filter((d) => d.startsWith(`${target.client}-${target.spec}.`))
    .map((d) => d.slice(target.client.length + 1))
    .sort(compareVersions);
  if (cached.length > 0) return cached.at(-1)!;
  throw new Error(`could not resolve ${target.client}@${target.spec} (registry unreachable, nothing cached)`);
}

function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** The scratch app with exactly `client@version`, installed once. */
async function scratchApp(client: MatrixClient, version: string): Promise<string> {
  const dir = join(CACHE, `${client}-${version}`);
  const installed = join(dir, 'node_modules', client, 'package.json');
  if (existsSync(installed) && (JSON.parse(readFileSync(installed, 'utf8')) as { version: string }).version === version)
    return dir;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: `matrix-${client}`, version: '0.0.0', private: true }, null, 2)}\n`,
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--save-exact', '--prefer-offline', `${client}@${version}`], {
    cwd: dir,
  });
  return dir;
}

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  testResults?: { status: string; message?: string; assertionResults?: AssertionResult[] }[];
}

interface AssertionResult {
  status: string;
  fullName: string;
  ancestorTitles: string[];
  failureMessages?: string[];
}

async function runCases(client: MatrixClient, version: string, dir: string): Promise<Outcome> {
  const report = join(dir, 'vitest-report.json');
  const vitest = join(ROOT, 'node_modules', '.bin', 'vitest');
  const args = ['run', '--config', 'test/versions/vitest.config.ts', '--reporter=json', `--outputFile=${report}`];
  const env = {
    ...process.env,
    LLM_GATEWAY_MATRIX_CLIENT: client,
    LLM_GATEWAY_MATRIX_DIR: dir,
    LLM_GATEWAY_MATRIX_VERSION: version,
  };
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(vitest, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('close', (exitCode) => resolve({ code: exitCode, output }));
  });
  const outcome: Outcome = { client, version, passed: 0, failed: 0, skipped: 0, details: [] };
  let r: VitestReport;
  try {
    r = JSON.parse(readFileSync(report, 'utf8')) as VitestReport;
  } catch {
    return {
      ...outcome,
      failed: 1,
      details: [`no test report (vitest exit ${code})`, ...output.trim().split('\n').slice(-15)],
    };
  }
  const suites = r.testResults ?? [];
  // A file that failed to load (a client that cannot be required) has no failed test of its own.
  const brokenFiles = suites.filter(
    (s) => s.status === 'failed' && !(s.assertionResults ?? []).some((a) => a.status === 'failed'),
  );
  outcome.passed = r.numPassedTests;
  outcome.failed = r.numFailedTests + brokenFiles.length;
  outcome.skipped = r.numPendingTests + (r.numTodoTests ?? 0);
  for (const file of brokenFiles) outcome.details.push(`file failed: ${(file.message ?? '').split('\n')[0]}`);
  const tests = suites.flatMap((s) => s.assertionResults ?? []);
  for (const test of tests.filter((a) => a.status === 'failed')) {
    outcome.details.push(`${test.fullName}: ${(test.failureMessages?.[0] ?? '').split('\n')[0]}`);
  }
  // A skipped group says why in its title.
  const skippedGroups = new Set(
    tests.filter((a) => a.status === 'skipped' || a.status === 'pending').map((a) => a.ancestorTitles.join(' > ')),
  );
  for (const group of skippedGroups) if (group.includes('skipped:')) outcome.details.push(group);
  if (code !== 0 && outcome.failed === 0) {
    outcome.failed = 1;
    outcome.details.push(`vitest exit ${code} with no failed test`);
  }
  return outcome;
}

function verdictOf(o: Outcome): 'pass' | 'FAIL' | 'skip' {
  return o.failed > 0 ? 'FAIL' : o.passed > 0 ? 'pass' : 'skip';
}

async function main(): Promise<void> {
  mkdirSync(CACHE, { recursive: true });
  const targets = targetsFromArgs(process.argv.slice(2));
  console.log(
    `client version matrix on Node ${process.versions.node}: ${targets.map((t) => `${t.client}@${t.spec}`).join(', ')}`,
  );
  const outcomes: Outcome[] = [];
  for (const target of targets) {
    let outcome: Outcome;
    let version = target.spec;
    try {
      version = await resolveVersion(target);
      outcome = await runCases(target.client, version, await scratchApp(target.client, version));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      outcome = { client: target.client, version, passed: 0, failed: 1, skipped: 0, details: [message.split('\n')[0]] };
    }
    outcomes.push(outcome);
    const name = `${outcome.client} ${outcome.version}`.padEnd(22);
    console.log(
      `${name} ${verdictOf(outcome)}  ${outcome.passed} passed, ${outcome.failed} failed, ${outcome.skipped} skipped`,
    );
    for (const line of outcome.details) console.log(`    ${line}`);
  }
  const sum = (key: 'passed' | 'failed' | 'skipped') => outcomes.reduce((n, o) => n + o[key], 0);
  const named = (verdict: string) =>
    outcomes.filter((o) => verdictOf(o) === verdict).map((o) => `${o.client} ${o.version}`);
  console.log();
  console.log(
    `client versions: ${named('pass').length} pass, ${named('FAIL').length} fail${named('FAIL').length > 0 ? ` (${named('FAIL').join(', ')})` : ''}, ` +
      `${named('skip').length} skipped${named('skip').length > 0 ? ` (${named('skip').join(', ')})` : ''}`,
  );
  console.log(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
  process.exitCode = sum('failed') === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
