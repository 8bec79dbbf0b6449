// The knobs of `npm run bench`, read from the environment by the harness and its workers alike.
import { join } from 'node:path';

export interface Options {
  /** BENCH_QUICK=1: a ~1 minute smoke run (fewer rounds and calls, same workloads). */
  quick: boolean;
  /** BENCH_SELFCHECK=1: only A vs A (bare against bare) on every workload; ratios must be ~1.00. */
  selfcheck: boolean;
  /** BENCH_REPEAT=n: the whole run n times, then the median of the n medians. */
  repeat: number;
  /** BENCH_ROUNDS: ABBA rounds per comparison. */
  rounds: number;
  /** BENCH_CALLS: non-streamed calls per round, both sides together (each side makes half, in two blocks). */
  calls: number;
  /** BENCH_STREAMS: streams per comparison, both sides and all rounds together. */
  streams: number;
  /** BENCH_SDK_STREAMS: the same for the openai SDK streams, each several times a fetch stream's CPU. */
  sdkStreams: number;
  /** BENCH_STREAM_BYTES: size of one SSE response. */
  streamBytes: number;
  /** BENCH_SSE_WRITE_BYTES: the server writes the SSE body in writes of about this size. */
  sseWriteBytes: number;
  /** BENCH_ONLY: a regular expression; only comparisons whose `workload / variant` match run. */
  only: RegExp | undefined;
  /** BENCH_TLS=0: no TLS workloads (for a machine without openssl). */
  tls: boolean;
  /** BENCH_OUT: where result files go (default .bench-out). */
  outDir: string;
}

export function readOptions(env: NodeJS.ProcessEnv = process.env): Options {
  const quick = env.BENCH_QUICK === '1';
  const number = (name: string, normal: number, inQuick: number) => {
    const value = Number(env[name] ?? (quick ? inQuick : normal));
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
    return value;
  };
  return {
    quick,
    selfcheck: env.BENCH_SELFCHECK === '1',
    repeat: number('BENCH_REPEAT', 1, 1),
    rounds: number('BENCH_ROUNDS', 15, 5),
    calls: number('BENCH_CALLS', 2000, 400),
    streams: number('BENCH_STREAMS', 600, 100),
    sdkStreams: number('BENCH_SDK_STREAMS', 300, 50),
    streamBytes: number('BENCH_STREAM_BYTES', 1_100_000, 1_100_000),
    sseWriteBytes: number('BENCH_SSE_WRITE_BYTES', 4096, 4096),
    only: env.BENCH_ONLY ? new RegExp(env.BENCH_ONLY) : undefined,
    tls: env.BENCH_TLS !== '0',
    outDir: env.BENCH_OUT ?? join(__dirname, '..', '.bench-out'),
  };
}

/** Calls per side per round. */
export function callsPerSide(options: Options): number {
  return Math.max(2, Math.round(options.calls / 2));
}

/** Streams per side per round: the total spread over both sides and all rounds. */
export function streamsPerSide(options: Options, sdk = false): number {
  return Math.max(2, Math.round((sdk ? options.sdkStreams : options.streams) / (2 * options.rounds)));
}
