// Tables for the terminal and the median of medians over repeated runs.
import { median, type Comparison, type Spread } from './measure';

export interface RunResult {
  comparisons: Comparison[];
}

const x = (n: number) => `${n.toFixed(3)}x`;
const range = (s: Spread) => `${x(s.median)} [${s.min.toFixed(2)}-${s.max.toFixed(2)}]`;
const signed = (n: number, digits = 0) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
const us = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)} ms` : `${n.toFixed(0)} µs`);
const pct = (n: number) => `${(n * 100).toFixed(0)}%`;

export function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  rows.forEach((row, index) => {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
    if (index === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

/** One run: a row per comparison, then the flags, numbered. */
export function printRun(comparisons: Comparison[]): void {
  const rows = [
    [
      'workload',
      'variant',
      'time B/A [min-max]',
      'wall +/call',
      'CPU/call A -> B',
      'CPU B/A',
      'MB/s A -> B',
      'spans/call',
      'server|client CPU',
      'CPU wait',
      'check',
    ],
  ];
  const notes: string[] = [];
  for (const c of comparisons) {
    const s = c.summary;
    const note = c.flags.length ? `(${notes.push(c.flags.join('; '))})` : 'ok';
    rows.push([
      c.workload,
      c.variant,
      range(s.timeRatio),
      `${signed(s.addedWallUs.median)} µs`,
      `${us(s.cpuUsA)} -> ${us(s.cpuUsB)}`,
      x(s.cpuRatio.median),
      s.mbPerSecondA === undefined ? '' : `${s.mbPerSecondA.toFixed(0)} -> ${s.mbPerSecondB!.toFixed(0)}`,
      s.spansPerCallB.toFixed(2),
      `${pct(Math.max(s.serverUtilA, s.serverUtilB))} | ${pct(Math.min(s.clientUtilA, s.clientUtilB))}`,
      pct(s.clientRunQueue),
      note,
    ]);
  }
  printTable(rows);
  notes.forEach((n, i) => console.log(`(${i + 1}) ${n}`));
}

/** Is the server ever the bottleneck? The A (bare) side of each workload, where it works hardest relative to the client. */
export function printBottleneckCheck(comparisons: Comparison[]): void {
  const rows = [
    [
      'workload',
      'server CPU (of a core)',
      'client CPU (of a core)',
      'server CPU/call',
      'client CPU/call',
      'CPU wait: client, server',
      'client blocked on I/O',
      'reads/stream',
    ],
  ];
  const seen = new Set<string>();
  for (const c of comparisons) {
    if (seen.has(c.workload)) continue;
    seen.add(c.workload);
    const mine = comparisons.filter((d) => d.workload === c.workload).map((d) => d.summary);
    rows.push([
      c.workload,
      `${pct(median(mine.map((s) => s.serverUtilA)))} (max ${pct(Math.max(...mine.map((s) => Math.max(s.serverUtilA, s.serverUtilB))))})`,
      pct(median(mine.map((s) => s.clientUtilA))),
      us(median(mine.map((s) => s.serverCpuUsPerCallA))),
      us(median(mine.map((s) => s.cpuUsA))),
      `${pct(median(mine.map((s) => s.clientRunQueue)))}, ${pct(median(mine.map((s) => s.serverRunQueue)))}`,
      mine[0].clientBlockedA === undefined ? 'n/a' : pct(median(mine.map((s) => s.clientBlockedA!))),
      c.summary.readsPerStream === undefined ? '' : c.summary.readsPerStream.toFixed(1),
    ]);
  }
  printTable(rows);
}

export interface MedianRow {
  workload: string;
  variant: string;
  runs: number;
  timeRatio: number[];
  cpuRatio: number[];
  addedCpuUs: number[];
  addedWallUs: number[];
  throughputRatio?: number[];
  /** Runs in which no check flagged the row. */
  cleanRuns: number;
  /** Median of the runs' medians. */
  median: { timeRatio: number; cpuRatio: number; addedCpuUs: number; addedWallUs: number; throughputRatio?: number };
}

export function medianOfMedians(runs: RunResult[]): MedianRow[] {
  const byKey = new Map<string, Comparison[]>();
  for (const run of runs)
    for (const c of run.comparisons)
      byKey.set(`${c.workload}\n${c.variant}`, [...(byKey.get(`${c.workload}\n${c.variant}`) ?? []), c]);
  return [...byKey.values()].map((cs) => {
    const pick = (f: (c: Comparison) => number) => cs.map(f);
    const timeRatio = pick((c) => c.summary.timeRatio.median);
    const cpuRatio = pick((c) => c.summary.cpuRatio.median);
    const addedCpuUs = pick((c) => c.summary.addedCpuUs.median);
    const addedWallUs = pick((c) => c.summary.addedWallUs.median);
    const throughputRatio = cs[0].summary.throughputRatio ? pick((c) => c.summary.throughputRatio!.median) : undefined;
    return {
      workload: cs[0].workload,
      variant: cs[0].variant,
      runs: cs.length,
      timeRatio,
      cpuRatio,
      addedCpuUs,
      addedWallUs,
      throughputRatio,
      cleanRuns: cs.filter((c) => c.flags.length === 0).length,
      median: {
        timeRatio: median(timeRatio),
        cpuRatio: median(cpuRatio),
        addedCpuUs: median(addedCpuUs),
        addedWallUs: median(addedWallUs),
        throughputRatio: throughputRatio && median(throughputRatio),
      },
    };
  });
}

export function printMedianOfMedians(rows: MedianRow[]): void {
  const list = (xs: number[]) => xs.map((n) => n.toFixed(3)).join(' ');
  printTable([
    [
      'workload',
      'variant',
      'time B/A',
      '(runs)',
      'CPU B/A',
      '(runs)',
      'CPU +/call',
      'wall +/call',
      'throughput B/A',
      'checks ok',
    ],
    ...rows.map((r) => [
      r.workload,
      r.variant,
      x(r.median.timeRatio),
      list(r.timeRatio),
      x(r.median.cpuRatio),
      list(r.cpuRatio),
      `${signed(r.median.addedCpuUs)} µs`,
      `${signed(r.median.addedWallUs)} µs`,
      r.median.throughputRatio === undefined ? '' : x(r.median.throughputRatio),
      `${r.cleanRuns} of ${r.runs} runs`,
    ]),
  ]);
}
