// One comparison: a workload run bare (A) and with a variant on (B) in the same process,
// in rounds of ABBA (even rounds) or BAAB (odd rounds), each letter half of a side's calls.
// Within a round a linear drift of machine load costs both sides the same; the garbage one
// side leaves is collected as often in the other side's blocks as in its own.
import { mainThreadTimes } from './schedstat';
import { streamReads, type Workload } from './workloads';
import { bareProblems, type Variant } from './variants';
import type { Telemetry } from './telemetry';

/** What the server process says of itself (process.cpuUsage and performance.now there). */
export interface ServerClock {
  sample(): Promise<{ cpuUs: number; atMs: number; runQueueMs: number }>;
}

export interface Side {
  calls: number;
  wallMs: number;
  /** Client process CPU, user + system, all threads (GC and compiler threads included). */
  cpuUs: number;
  bytes: number;
  reads: number;
  serverCpuUs: number;
  serverWallMs: number;
  /** Main-thread time spent waiting for a CPU while runnable: client, server. */
  runQueueMs: number;
  serverRunQueueMs: number;
  /** Client main thread on a CPU (the rest of the wall time it waited for a CPU or for I/O). */
  mainThreadCpuMs: number;
  spans: number;
  logRecords: number;
}

export interface Round {
  a: Side;
  b: Side;
  /** The four blocks in the order they ran, `on` for the B side. */
  blocks: (Side & { on: boolean })[];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface Summary {
  /** Wall time per call B / A, per round: > 1 means the variant made calls slower. */
  timeRatio: Spread;
  cpuRatio: Spread;
  /** µs per call added, wall time and client CPU. */
  addedWallUs: Spread;
  addedCpuUs: Spread;
  /** Medians over rounds, per call (or stream). */
  wallUsA: number;
  wallUsB: number;
  cpuUsA: number;
  cpuUsB: number;
  /** Streams: MB/s (10^6 bytes) A and B, and B / A per round (< 1 means slower). */
  mbPerSecondA?: number;
  mbPerSecondB?: number;
  throughputRatio?: Spread;
  readsPerStream?: number;
  /** Busy fraction of one core over all blocks of a side: server process and client process. */
  serverUtilA: number;
  serverUtilB: number;
  clientUtilA: number;
  clientUtilB: number;
  /** Fraction of wall time the client's (server's) main thread waited for a CPU: other load on the machine. */
  clientRunQueue: number;
  serverRunQueue: number;
  /**
   * Fraction of wall time the client's main thread was blocked waiting for I/O (neither on a
   * CPU nor waiting for one), bare side: near 0 when the client is the bottleneck. Linux only.
   */
  clientBlockedA: number | undefined;
  serverCpuUsPerCallA: number;
  serverCpuUsPerCallB: number;
  spansPerCallA: number;
  spansPerCallB: number;
  logRecordsPerCallB: number;
}

export interface Comparison {
  workload: string;
  kind: Workload['kind'];
  gateway: boolean;
  variant: string;
  rounds: Round[];
  summary: Summary;
  /** Reasons not to trust this row; empty when every check passed. */
  flags: string[];
}

export interface Plan {
  rounds: number;
  /** Calls (or streams) per side per round, split into two blocks. */
  perSide: number;
}

/** Above this busy fraction of a core, the server may be what limits the client. */
export const SERVER_BUSY_LIMIT = 0.6;
/** Above this fraction of wall time waiting for a CPU, other processes shaped the timings. */
export const MACHINE_BUSY_LIMIT = 0.05;
/** A stream read by a client that is the bottleneck leaves its main thread blocked less than this. */
export const STREAM_BLOCKED_LIMIT = 0.2;

export interface Bench {
  telemetry: Telemetry;
  server: ServerClock;
  bareFetch: typeof globalThis.fetch;
}

export async function compare(bench: Bench, workload: Workload, variant: Variant, plan: Plan): Promise<Comparison> {
  const halves = [Math.ceil(plan.perSide / 2), Math.floor(plan.perSide / 2)].filter((n) => n > 0);
  const flags = new Set<string>();
  const runSide = async (on: boolean, calls: number): Promise<Side> => {
    if (on) variant.enable();
    try {
      return await block(bench, workload, calls);
    } finally {
      if (on) {
        variant.disable();
        for (const problem of [...bareProblems(bench.bareFetch), variant.leftovers?.()])
          if (problem) flags.add(`left on after disable: ${problem}`);
      }
    }
  };
  // Warm-up: both paths compiled, connections open.
  await runSide(false, halves[0]);
  await runSide(true, halves[0]);
  for (const problem of bareProblems(bench.bareFetch)) flags.add(`A side not bare: ${problem}`);

  const rounds: Round[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    const order = r % 2 === 0 ? [false, true, true, false] : [true, false, false, true];
    const a: Side[] = [];
    const b: Side[] = [];
    const blocks: Round['blocks'] = [];
    for (const on of order) {
      // The first letter of each side gets the first half: both sides get both halves.
      const calls = halves[(on ? b : a).length % halves.length];
      const side = await runSide(on, calls);
      (on ? b : a).push(side);
      blocks.push({ ...side, on });
    }
    rounds.push({ a: sum(a), b: sum(b), blocks });
  }
  const summary = summarise(workload, rounds);
  for (const flag of checks(workload, variant, summary)) flags.add(flag);
  return {
    workload: workload.name,
    kind: workload.kind,
    gateway: workload.gateway,
    variant: variant.name,
    rounds,
    summary,
    flags: [...flags],
  };
}

/** `calls` sequential calls; telemetry flushed before and after, outside the timed part. */
export async function block(bench: Bench, workload: Workload, calls: number): Promise<Side> {
  await bench.telemetry.flush();
  const before = bench.telemetry.counts();
  const readsBefore = streamReads.count;
  const server0 = await bench.server.sample();
  const main0 = mainThreadTimes();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let bytes = 0;
  for (let i = 0; i < calls; i++) bytes += await workload.once();
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadTimes();
  const server1 = await bench.server.sample();
  await bench.telemetry.flush();
  const after = bench.telemetry.counts();
  return {
    calls,
    wallMs,
    cpuUs: cpu.user + cpu.system,
    bytes,
    reads: streamReads.count - readsBefore,
    serverCpuUs: server1.cpuUs - server0.cpuUs,
    serverWallMs: server1.atMs - server0.atMs,
    runQueueMs: main1.waitingMs - main0.waitingMs,
    mainThreadCpuMs: main1.onCpuMs - main0.onCpuMs,
    serverRunQueueMs: server1.runQueueMs - server0.runQueueMs,
    spans: after.spans - before.spans,
    logRecords: after.logRecords - before.logRecords,
  };
}

function sum(sides: Side[]): Side {
  const total: Side = {
    calls: 0,
    wallMs: 0,
    cpuUs: 0,
    bytes: 0,
    reads: 0,
    serverCpuUs: 0,
    serverWallMs: 0,
    runQueueMs: 0,
    serverRunQueueMs: 0,
    mainThreadCpuMs: 0,
    spans: 0,
    logRecords: 0,
  };
  for (const side of sides) for (const key of Object.keys(total) as (keyof Side)[]) total[key] += side[key];
  return total;
}

export function median(xs: number[]): number {
  const sorted = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

function summarise(workload: Workload, rounds: Round[]): Summary {
  const perCall = (side: 'a' | 'b', key: 'wallMs' | 'cpuUs') =>
    rounds.map((r) => (r[side][key] * (key === 'wallMs' ? 1000 : 1)) / r[side].calls);
  const [wallA, wallB, cpuA, cpuB] = [
    perCall('a', 'wallMs'),
    perCall('b', 'wallMs'),
    perCall('a', 'cpuUs'),
    perCall('b', 'cpuUs'),
  ];
  const total = (side: 'a' | 'b') => sum(rounds.map((r) => r[side]));
  const [a, b] = [total('a'), total('b')];
  const mbPerSecond = (side: 'a' | 'b') => rounds.map((r) => r[side].bytes / 1e6 / (r[side].wallMs / 1000));
  const stream = workload.kind === 'stream';
  return {
    timeRatio: spread(wallB.map((x, i) => x / wallA[i])),
    cpuRatio: spread(cpuB.map((x, i) => x / cpuA[i])),
    addedWallUs: spread(wallB.map((x, i) => x - wallA[i])),
    addedCpuUs: spread(cpuB.map((x, i) => x - cpuA[i])),
    wallUsA: median(wallA),
    wallUsB: median(wallB),
    cpuUsA: median(cpuA),
    cpuUsB: median(cpuB),
    mbPerSecondA: stream ? median(mbPerSecond('a')) : undefined,
    mbPerSecondB: stream ? median(mbPerSecond('b')) : undefined,
    throughputRatio: stream ? spread(mbPerSecond('b').map((x, i) => x / mbPerSecond('a')[i])) : undefined,
    readsPerStream: stream && a.reads + b.reads > 0 ? (a.reads + b.reads) / (a.calls + b.calls) : undefined,
    serverUtilA: a.serverCpuUs / 1000 / a.serverWallMs,
    serverUtilB: b.serverCpuUs / 1000 / b.serverWallMs,
    clientUtilA: a.cpuUs / 1000 / a.wallMs,
    clientUtilB: b.cpuUs / 1000 / b.wallMs,
    // The kernel books a wait when the thread next runs, so a short block can see a wait that
    // began before it: capped at the whole block.
    clientRunQueue: Math.min(1, (a.runQueueMs + b.runQueueMs) / (a.wallMs + b.wallMs)),
    serverRunQueue: Math.min(1, (a.serverRunQueueMs + b.serverRunQueueMs) / (a.serverWallMs + b.serverWallMs)),
    clientBlockedA: a.mainThreadCpuMs > 0 ? Math.max(0, 1 - (a.mainThreadCpuMs + a.runQueueMs) / a.wallMs) : undefined,
    serverCpuUsPerCallA: a.serverCpuUs / a.calls,
    serverCpuUsPerCallB: b.serverCpuUs / b.calls,
    spansPerCallA: a.spans / a.calls,
    spansPerCallB: b.spans / b.calls,
    logRecordsPerCallB: b.logRecords / b.calls,
  };
}

/** Why a row may not say what it seems to: a busy server, a variant not at work, noise. */
function checks(workload: Workload, variant: Variant, s: Summary): string[] {
  const flags: string[] = [];
  const serverUtil = Math.max(s.serverUtilA, s.serverUtilB);
  if (serverUtil > SERVER_BUSY_LIMIT) flags.push(`server busy: ${(serverUtil * 100).toFixed(0)}% of a core`);
  if (s.serverUtilA > s.clientUtilA || s.serverUtilB > s.clientUtilB) flags.push('server busier than the client');
  if (s.clientRunQueue > MACHINE_BUSY_LIMIT)
    flags.push(`machine busy: the client waited for a CPU ${(s.clientRunQueue * 100).toFixed(0)}% of the time`);
  if (workload.kind === 'stream' && s.clientBlockedA !== undefined && s.clientBlockedA > STREAM_BLOCKED_LIMIT)
    flags.push(
      `not client-bound: the bare client was blocked on I/O ${(s.clientBlockedA * 100).toFixed(0)}% of the time`,
    );
  if (s.spansPerCallA > 0) flags.push(`A side exported ${s.spansPerCallA.toFixed(2)} spans per call`);
  const expected = variant.spans === 'every call' || (variant.spans === 'gateway calls' && workload.gateway);
  if (expected && s.spansPerCallB < 0.99)
    flags.push(`variant exported only ${s.spansPerCallB.toFixed(2)} spans per call`);
  if (!expected && s.spansPerCallB > 0)
    flags.push(`variant exported ${s.spansPerCallB.toFixed(2)} spans per call where none were expected`);
  if (s.timeRatio.max - s.timeRatio.min > 0.15)
    flags.push(`noisy: time ratio ranged ${s.timeRatio.min.toFixed(2)}-${s.timeRatio.max.toFixed(2)}`);
  return flags;
}
