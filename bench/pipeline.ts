// npm run bench:pipeline: the instrumentation's own CPU per call and per stream chunk, with no
// network: undici's diagnostics-channel messages for one gateway request are published by hand,
// in the order undici publishes them, around a fetch that only creates the request. Nothing but
// the instrumentation and the OpenTelemetry SDK work it causes (span, metric points, log
// record) is measured, so the figures are stable where loopback ratios are noisy; they are
// warm-cache figures, lower than the same work costs between real I/O (see BENCHMARKS.md).
// Steps can be left out to see what each costs: PIPELINE_NO_RECORD=1 (no call record),
// PIPELINE_NO_METRICS=1 (no metric points).
import dc from 'node:diagnostics_channel';
import { Session } from 'node:inspector/promises';
// The built package, as users run it.
import { LlmGatewayInstrumentation } from '../dist/cjs/index.js';
import { buildPayloads, CHAT_REQUEST, RATE_LIMIT_HEADERS, STREAM_REQUEST } from './payloads';
import { installTelemetry } from './telemetry';

const channel = (name: string) => dc.channel(`undici:request:${name}`);
const create = channel('create');
const bodyChunkSent = channel('bodyChunkSent');
const bodySent = channel('bodySent');
const headers = channel('headers');
const bodyChunkReceived = channel('bodyChunkReceived');
const trailers = channel('trailers');

const ORIGIN = 'http://127.0.0.1:1234';
const payloads = buildPayloads(1_100_000, 4096);
const rawHeaders = (contentType: string) =>
  Object.entries({
    date: new Date().toUTCString(),
    'content-type': contentType,
    ...RATE_LIMIT_HEADERS,
    connection: 'keep-alive',
  }).flatMap(([name, value]) => [Buffer.from(name), Buffer.from(value)]);
const jsonHead = rawHeaders('application/json');
const sseHead = rawHeaders('text/event-stream; charset=utf-8');
const chatBody = JSON.stringify(CHAT_REQUEST);
const chatBytes = Buffer.from(chatBody);
const streamBody = JSON.stringify(STREAM_REQUEST);
const streams = { '4 KB writes': payloads.sseWrites, 'one event per write': payloads.sseEventWrites };

let request: object = {};
// The "network": a fetch that creates undici's request (synchronously, as undici does) and resolves.
globalThis.fetch = function () {
  request = { origin: ORIGIN, path: '/v1/chat/completions', method: 'POST', headers: ['authorization', 'k'], body: {} };
  if (create.hasSubscribers) create.publish({ request });
  return Promise.resolve(new Response(null));
};

const telemetry = installTelemetry();
const instrumentation = telemetry.register(
  new LlmGatewayInstrumentation({
    hosts: [{ host: '127.0.0.1:1234' }],
    enabled: false,
    emitCallRecords: !process.env.PIPELINE_NO_RECORD,
  }),
);
if (process.env.PIPELINE_NO_METRICS) {
  const metrics = (instrumentation as unknown as { metrics: { recordCall(): void; noteRateLimit(): void } }).metrics;
  metrics.recordCall = () => {};
  metrics.noteRateLimit = () => {};
}

function publish(ch: dc.Channel, message: object): void {
  if (ch.hasSubscribers) ch.publish(message);
}

async function call(): Promise<void> {
  await fetch(`${ORIGIN}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'k' }, body: chatBody });
  publish(bodyChunkSent, { request, chunk: chatBytes });
  publish(bodySent, { request });
  publish(headers, { request, response: { statusCode: 200, headers: jsonHead, statusText: 'OK' } });
  publish(bodyChunkReceived, { request, chunk: Buffer.from(payloads.chatJson) });
  publish(trailers, { request, trailers: [] });
}

async function stream(chunks: readonly Buffer[]): Promise<void> {
  await fetch(`${ORIGIN}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'k' }, body: streamBody });
  publish(headers, { request, response: { statusCode: 200, headers: sseHead, statusText: 'OK' } });
  for (const chunk of chunks) publish(bodyChunkReceived, { request, chunk });
  publish(trailers, { request, trailers: [] });
}

/** CPU µs per operation, median of alternating blocks with the instrumentation off and on. */
async function measure(operation: () => Promise<void>, perBlock: number): Promise<{ off: number; on: number }> {
  const block = async (on: boolean) => {
    if (on) instrumentation.enable();
    else instrumentation.disable();
    await telemetry.flush();
    const start = process.cpuUsage();
    for (let i = 0; i < perBlock; i++) await operation();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / perBlock;
  };
  for (let i = 0; i < 3; i++) {
    await block(false);
    await block(true);
  }
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < 8; round++) {
    off.push(await block(false));
    on.push(await block(true), await block(true));
    off.push(await block(false));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
  return { off: median(off), on: median(on) };
}

/**
 * `--alloc`: bytes allocated per operation with the instrumentation on, by function (the
 * sampling heap profiler, counting objects the GC already collected), off and on compared.
 */
async function allocations(operation: () => Promise<void>, count: number): Promise<void> {
  const session = new Session();
  session.connect();
  const sample = async (on: boolean) => {
    if (on) instrumentation.enable();
    else instrumentation.disable();
    for (let i = 0; i < count / 4; i++) await operation();
    await telemetry.flush();
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (let i = 0; i < count; i++) await operation();
    await telemetry.flush();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const bySite = new Map<string, number>();
    let total = 0;
    const walk = (node: (typeof profile)['head'], stack: string) => {
      const frame = node.callFrame;
      const url = frame.url.replace(/.*node_modules\//, '').replace(/.*\/dist\/cjs\//, 'ours/');
      // A builtin (no script) is named with its caller: `sort < hashAttributes ...`.
      const here = frame.url
        ? `${frame.functionName || '(anonymous)'} ${url}:${frame.lineNumber + 1}`
        : `${frame.functionName || '(anonymous)'} < ${stack}`;
      const bytes = node.selfSize;
      if (bytes > 0) {
        total += bytes;
        bySite.set(here, (bySite.get(here) ?? 0) + bytes);
      }
      for (const child of node.children) walk(child, frame.url ? here : stack);
    };
    walk(profile.head, '');
    return { total: total / count, bySite };
  };
  const off = await sample(false);
  const on = await sample(true);
  console.log(`  ${(off.total / 1024).toFixed(1)} KB per operation off, ${(on.total / 1024).toFixed(1)} KB on`);
  const added = [...on.bySite].map(([site, bytes]) => [site, (bytes - (off.bySite.get(site) ?? 0)) / count] as const);
  for (const [site, bytes] of added.sort((a, b) => b[1] - a[1]).slice(0, 40))
    if (bytes > 16) console.log(`  ${bytes.toFixed(0).padStart(7)} B  ${site}`);
  session.disconnect();
}

async function main(): Promise<void> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 24 || (major === 24 && minor < 4)) {
    console.log(
      `node ${process.version}: fetch is not observed at the wire before Node 24.4; this measures nothing there`,
    );
    return;
  }
  if (process.argv.includes('--alloc')) {
    console.log(`node ${process.version}; bytes allocated per non-streamed call`);
    await allocations(call, 4000);
    console.log(`bytes allocated per 1.1 MB stream (4 KB writes)`);
    const chunks = payloads.sseWrites.map((write) => Buffer.from(write));
    await allocations(() => stream(chunks), 40);
    await telemetry.shutdown();
    return;
  }
  console.log(`node ${process.version}; the instrumentation's own CPU, no network (warm caches)`);
  const calls = await measure(call, 2000);
  console.log(`  non-streamed call: ${(calls.on - calls.off).toFixed(1)} µs per call`);
  if (process.env.PIPELINE_CALLS_ONLY) return telemetry.shutdown();
  for (const [label, writes] of Object.entries(streams)) {
    const chunks = writes.map((write) => Buffer.from(write));
    const streamed = await measure(() => stream(chunks), 10);
    const added = streamed.on - streamed.off;
    console.log(`  1.1 MB stream, ${label} (${chunks.length} chunks): ${added.toFixed(0)} µs per stream`);
  }
  await telemetry.shutdown();
}

void main();
