/**
 * The runtime suite: runs test/runtimes/suite.mjs against the built package (dist/) on Node
 * (the reference), Bun and Deno, each against a fresh simulated gateway served from this
 * process, and prints each check, one count line per runtime and a total.
 *
 *   npm run test:runtimes               # node, bun, deno
 *   npm run test:runtimes -- bun deno   # only these
 *
 * Bun and Deno come from the npm registry (scripts/with-runtime.sh, cached in .cache/).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { startSimulatedGateway } from '../examples/simulated-gateway/server';

const ROOT = join(__dirname, '..');
const SUITE = 'test/runtimes/suite.mjs';
const TIMEOUT_MS = 120_000;

const COMMANDS: Record<string, string[]> = {
  node: [process.execPath, SUITE],
  bun: ['sh', 'scripts/with-runtime.sh', 'bun', SUITE],
  // No lockfile written into the repository; the suite needs loopback, env and file reads only.
  deno: [
    'sh',
    'scripts/with-runtime.sh',
    'deno',
    'run',
    '--no-lock',
    '--allow-net=127.0.0.1',
    '--allow-env',
    '--allow-read',
    SUITE,
  ],
};

interface RuntimeResult {
  name: string;
  version: string;
  passed: number;
  failed: number;
}

interface CheckLine {
  runtime: string;
  check: string;
  ok: boolean;
  problems: string[];
}

async function runSuite(name: string): Promise<RuntimeResult> {
  const gateway = await startSimulatedGateway({ rateLimit: 2, windowSeconds: 600 });
  const [command, ...args] = COMMANDS[name];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, LLM_GATEWAY_SIM_URL: gateway.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result: RuntimeResult = { name, version: name, passed: 0, failed: 0 };
  let summary: { passed: number; failed: number } | undefined;
  const timer = setTimeout(() => {
    console.log(`  ${name}: no result after ${TIMEOUT_MS / 1000} s, stopping it`);
    child.kill('SIGKILL');
  }, TIMEOUT_MS);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => process.stderr.write(`  [${name} stderr] ${chunk}`));
  for await (const line of createInterface({ input: child.stdout })) {
    const [tag, json] = splitTag(line);
    if (tag === 'RUNTIME-CHECK') {
      const check = JSON.parse(json) as CheckLine;
      result.version = check.runtime;
      console.log(`  ${check.ok ? 'pass' : 'FAIL'}  ${check.runtime}  ${check.check}`);
      for (const problem of check.problems) console.log(`          ${problem}`);
    } else if (tag === 'RUNTIME-PROBE') {
      const probe = JSON.parse(json) as { runtime: string; probe: string; observed: unknown; note: string };
      console.log(`  probe ${probe.runtime}  ${probe.probe}: observed=${String(probe.observed)} (${probe.note})`);
    } else if (tag === 'RUNTIME-RESULT') {
      summary = JSON.parse(json) as { passed: number; failed: number };
    } else {
      console.log(`  [${name}] ${line}`);
    }
  }
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  await gateway.close();
  if (summary === undefined) {
    console.log(`  ${name}: the suite did not finish (exit ${code})`);
    return { ...result, failed: result.failed + 1 };
  }
  // A non-zero exit with no failed check (a crash after the last line) is a failure too.
  const crashed = code !== 0 && summary.failed === 0 ? 1 : 0;
  return { ...result, passed: summary.passed, failed: summary.failed + crashed };
}

function splitTag(line: string): [string, string] {
  const space = line.indexOf(' ');
  return space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
}

async function main(): Promise<void> {
  const requested = process.argv.slice(2);
  const names = requested.length > 0 ? requested : Object.keys(COMMANDS);
  const unknown = names.filter((n) => !(n in COMMANDS));
  if (unknown.length > 0)
    throw new Error(`unknown runtime ${unknown.join(', ')}; choose from ${Object.keys(COMMANDS).join(', ')}`);
  const results: RuntimeResult[] = [];
  for (const name of names) {
    console.log(`--- ${name}`);
    results.push(await runSuite(name));
  }
  console.log();
  for (const r of results) console.log(`${r.version}: ${r.passed} passed, ${r.failed} failed`);
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
