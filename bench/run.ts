// npm run bench: what this instrumentation costs an application, measured so that it cannot
// flatter us (BENCHMARKS.md §6 says how to read the output).
//
// - A fast gateway in a process of its own (bench/server.ts): pre-built bodies from memory,
//   keep-alive, HTTP and TLS. Every block reports the server's CPU next to the client's, and a
//   row where the server was busy (> 60% of a core, or busier than the client) is flagged.
// - Each comparison runs bare (A) and instrumented (B) in one process, in ABBA rounds, by
//   enable()/disable(); reported are the median of per-round ratios and their min-max.
// - Peers and two references (floor, wrapper only) run on the same workloads in the same run.
// - Client CPU per call (process.cpuUsage) next to wall time: on a shared machine it is the
//   steadier figure, and it counts work that a wall clock on an idle client would hide.
//
// This file makes the certificate, starts the measuring processes one after another
// (bench/worker.ts), prints the tables and writes .bench-out/bench-node<major>-<time>.json.
// BENCH_QUICK=1 for a smoke run, BENCH_SELFCHECK=1 for A vs A only, BENCH_REPEAT=3 for the
// median of three runs' medians; other knobs in bench/options.ts.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Comparison } from './measure';
import { callsPerSide, readOptions, streamsPerSide, type Options } from './options';
import { medianOfMedians, printBottleneckCheck, printMedianOfMedians, printRun } from './report';
import { makeCertificate, type Certificate } from './tls';
import type { Group, WorkerResult } from './worker';

/** A vs A must land within this of 1.00 for BENCH_SELFCHECK=1 to pass. */
const SELFCHECK_TOLERANCE = Number(process.env.BENCH_SELFCHECK_TOLERANCE ?? 0.03);

function workerEnv(certificate: Certificate | undefined): NodeJS.ProcessEnv {
  return certificate
    ? {
        ...process.env,
        NODE_EXTRA_CA_CERTS: certificate.cert,
        BENCH_TLS_CERT: certificate.cert,
        BENCH_TLS_KEY: certificate.key,
      }
    : { ...process.env };
}

async function runWorker(args: string[], env: NodeJS.ProcessEnv, nodeFlags: string[] = []): Promise<void> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(__dirname, 'worker.ts'), ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env,
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench worker ${args.join(' ')} exited with ${code}`);
}

async function runOnce(
  options: Options,
  certificate: Certificate | undefined,
  stamp: string,
): Promise<{ file: string; results: WorkerResult[] }> {
  const groups: Group[] = options.selfcheck ? ['selfcheck'] : ['main', 'openai'];
  const results: WorkerResult[] = [];
  for (const group of groups) {
    const out = join(options.outDir, `worker-${group}-${process.pid}.json`);
    console.log(
      group === 'openai'
        ? '\n[openai] instrumentation-openai runs in a process of its own: its require hook must see the SDK load'
        : `\n[${group}]`,
    );
    await runWorker(['--group', group, '--out', out], workerEnv(certificate));
    results.push(JSON.parse(readFileSync(out, 'utf8')) as WorkerResult);
  }
  const comparisons = results.flatMap((r) => r.comparisons);
  console.log('');
  printRun(comparisons);
  console.log('\nIs the client the bottleneck? (A side, bare; server and client are separate processes)');
  printBottleneckCheck(comparisons);
  console.log('\nvariants:');
  const described = new Map(results.flatMap((r) => Object.entries(r.variants)));
  for (const [name, description] of described) console.log(`  ${name.padEnd(13)} ${description}`);
  const file = join(options.outDir, `bench-node${process.versions.node.split('.')[0]}-${stamp}.json`);
  writeFileSync(file, JSON.stringify({ ...describeRun(options), groups: results }, null, 1));
  console.log(`\nwritten: ${file}`);
  return { file, results };
}

function describeRun(options: Options) {
  return {
    node: process.version,
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavgAtEnd: loadavg() },
    options: {
      ...options,
      only: options.only?.source,
      callsPerSidePerRound: callsPerSide(options),
      streamsPerSidePerRound: streamsPerSide(options),
      sdkStreamsPerSidePerRound: streamsPerSide(options, true),
    },
  };
}

function selfcheckVerdict(comparisons: Comparison[]): boolean {
  let ok = true;
  for (const c of comparisons.filter((d) => d.variant === 'A vs A')) {
    const off = Math.abs(c.summary.timeRatio.median - 1);
    const cpuOff = Math.abs(c.summary.cpuRatio.median - 1);
    const pass = off <= SELFCHECK_TOLERANCE && cpuOff <= SELFCHECK_TOLERANCE;
    ok &&= pass;
    const busy = c.flags.find((f) => f.startsWith('machine busy'));
    console.log(
      `  ${pass ? 'PASS' : 'FAIL'}  ${c.workload}: time ${c.summary.timeRatio.median.toFixed(3)}x [${c.summary.timeRatio.min.toFixed(2)}-${c.summary.timeRatio.max.toFixed(2)}], ` +
        `CPU ${c.summary.cpuRatio.median.toFixed(3)}x (tolerance ±${SELFCHECK_TOLERANCE})${busy ? `; ${busy}` : ''}`,
    );
  }
  return ok;
}

async function main(): Promise<void> {
  const options = readOptions();
  mkdirSync(options.outDir, { recursive: true });
  const certificate = options.tls ? makeCertificate(join(options.outDir, 'tls')) : undefined;

  const profileAt = process.argv.indexOf('--profile');
  if (profileAt !== -1) {
    const profiles = join(options.outDir, 'profiles');
    await runWorker(process.argv.slice(profileAt), workerEnv(certificate), [
      ...(process.env.BENCH_NO_CPU_PROF === '1' ? [] : ['--cpu-prof', '--cpu-prof-dir', profiles]),
      ...(process.env.BENCH_WORKER_FLAGS?.split(' ').filter(Boolean) ?? []),
    ]);
    console.log(`profile written under ${profiles}`);
    return;
  }

  console.log(
    `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model}), load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n` +
      `${options.quick ? 'QUICK: ' : ''}${options.selfcheck ? 'SELFCHECK (A vs A): ' : ''}${options.rounds} ABBA rounds per comparison; ` +
      `${callsPerSide(options)} calls, ${streamsPerSide(options)} fetch streams or ${streamsPerSide(options, true)} SDK streams of ${(options.streamBytes / 1e6).toFixed(1)} MB per side per round; ${options.repeat} run(s)`,
  );
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runs: WorkerResult[][] = [];
  for (let i = 0; i < options.repeat; i++) {
    if (options.repeat > 1) console.log(`\n======== run ${i + 1} of ${options.repeat}`);
    runs.push((await runOnce(options, certificate, options.repeat > 1 ? `${stamp}-run${i + 1}` : stamp)).results);
  }
  if (options.repeat > 1) {
    const rows = medianOfMedians(runs.map((results) => ({ comparisons: results.flatMap((r) => r.comparisons) })));
    console.log(`\n======== median of ${options.repeat} runs' medians`);
    printMedianOfMedians(rows);
    const file = join(
      options.outDir,
      `bench-node${process.versions.node.split('.')[0]}-${stamp}-median-of-${options.repeat}.json`,
    );
    writeFileSync(file, JSON.stringify({ ...describeRun(options), medianOfMedians: rows }, null, 1));
    console.log(`\nwritten: ${file}`);
  }
  if (options.selfcheck) {
    console.log('\nself-check: bare against bare must give ~1.00x');
    const last = runs.at(-1)!.flatMap((r) => r.comparisons);
    if (!selfcheckVerdict(last)) process.exitCode = 1;
  }
  const exported = runs.flat().map((r) => r.exported);
  console.log(
    `\nexported in all: ${exported.reduce((n, e) => n + e.spans, 0)} spans, ${exported.reduce((n, e) => n + e.logRecords, 0)} log records, ${exported.reduce((n, e) => n + e.metricPoints, 0)} metric points`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
