import axios from 'axios';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { show } from './support/show';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Many streamed calls at once, through fetch and through axios: every stream is held open
// until all of them have received their first chunk, so they are all in flight together,
// interleaved on the same event loop. Each span must carry the request_id its own response
// carried (no cross-talk between concurrent calls), and every span must end.
//
// LOAD_CONCURRENCY=<n> sets the number of concurrent streams per client (default 1000).

const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 1000);

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
// One socket per stream: all of them are open at once by design.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 10_000_000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  agent.destroy();
  await gateway.close();
});

/** Resolves once `size` calls arrived; fails (instead of hanging) if they never all do. */
class Barrier {
  private arrived = 0;
  private release!: () => void;
  private fail!: (error: Error) => void;
  readonly allArrived: Promise<void>;
  constructor(
    private readonly size: number,
    timeoutMs: number,
  ) {
    this.allArrived = new Promise<void>((resolve, reject) => {
      this.release = resolve;
      this.fail = reject;
    });
    const timer = setTimeout(
      () => this.fail(new Error(`only ${this.arrived} of ${size} streams started within ${timeoutMs} ms`)),
      timeoutMs,
    );
    void this.allArrived.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }
  arrive(): Promise<void> {
    if (++this.arrived === this.size) this.release();
    return this.allArrived;
  }
}

function streamRequest(tag: number): Record<string, unknown> {
  return {
    model: 'gpt-5',
    messages: [{ role: 'user', content: `call ${tag}` }],
    // The call's tag: tells its span apart from the others.
    max_tokens: tag,
    stream: true,
    stream_options: { include_usage: true },
    x_sim: { streamRequestId: true, replyBytes: 3000 },
  };
}

const headers = { authorization: 'sim-load-key', 'content-type': 'application/json' };

/** One streamed call; waits at the barrier after its first chunk. Returns the text it read. */
type StreamedCall = (tag: number, barrier: Barrier) => Promise<string>;

const throughFetch: StreamedCall = async (tag, barrier) => {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify(streamRequest(tag)),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let first = true;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
    if (first) {
      first = false;
      await barrier.arrive();
    }
  }
};

const throughAxios: StreamedCall = async (tag, barrier) => {
  const response = await axios.post(`${gateway.url}/v1/chat/completions`, streamRequest(tag), {
    headers,
    responseType: 'stream',
    httpAgent: agent,
  });
  let text = '';
  let first = true;
  for await (const chunk of response.data as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8');
    if (first) {
      first = false;
      await barrier.arrive();
    }
  }
  return text;
};

async function concurrentStreams(call: StreamedCall, firstTag: number, label: string): Promise<void> {
  telemetry.reset();
  const barrier = new Barrier(CONCURRENCY, 60_000);
  const startedAt = performance.now();
  const texts = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => call(firstTag + i, barrier)));
  const spans = await telemetry.waitForSpans(CONCURRENCY, 20_000);
  const elapsed = performance.now() - startedAt;

  const requestIdByTag = new Map<number, string>();
  texts.forEach((text, i) => {
    const ids = new Set([...text.matchAll(/"request_id":"([^"]+)"/g)].map((m) => m[1]));
    // Every chunk of one stream carries its own response's id, and only that one.
    expect(ids.size).toBe(1);
    expect(text).toContain('data: [DONE]');
    requestIdByTag.set(firstTag + i, [...ids][0]);
  });
  expect(new Set(requestIdByTag.values()).size).toBe(CONCURRENCY);

  const crossTalk: string[] = [];
  for (const span of spans) {
    const tag = span.attributes['gen_ai.request.max_tokens'] as number;
    const expected = requestIdByTag.get(tag);
    if (span.attributes['assemblyai.request_id'] !== expected) {
      crossTalk.push(
        `call ${tag}: span has ${String(span.attributes['assemblyai.request_id'])}, its response carried ${String(expected)}`,
      );
    }
    if (span.attributes['error.type'] !== undefined)
      crossTalk.push(`call ${tag}: error.type ${show(span.attributes['error.type'])}`);
  }
  expect(crossTalk).toEqual([]);
  expect(new Set(spans.map((s) => s.attributes['gen_ai.request.max_tokens'])).size).toBe(CONCURRENCY);
  expect(telemetry.lifecycle.started).toBe(CONCURRENCY);
  expect(telemetry.lifecycle.ended).toBe(CONCURRENCY);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  console.log(
    `load: ${CONCURRENCY} concurrent streams through ${label} in ${(elapsed / 1000).toFixed(2)} s: ${spans.length} spans, each with its own request_id, all ended once`,
  );
}

describe('concurrent streamed calls keep their telemetry apart', () => {
  it(
    `gives each of ${CONCURRENCY} concurrent fetch streams the request_id of its own response`,
    () => concurrentStreams(throughFetch, 1, 'fetch'),
    90_000,
  );

  it(
    `gives each of ${CONCURRENCY} concurrent axios streams the request_id of its own response`,
    () => concurrentStreams(throughAxios, 100_001, 'axios'),
    90_000,
  );
});
