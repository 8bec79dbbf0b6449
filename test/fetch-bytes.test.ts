import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// The application must receive exactly the bytes it would receive without the
// instrumentation, however it reads them. A fixed-payload server makes the two runs comparable.

interface Payload {
  contentType: string;
  chunks: Buffer[];
  gzip?: boolean;
}

function sse(events: string[]): string {
  return events.map((e) => `data: ${e}\n\n`).join('') + 'data: [DONE]\n\n';
}

const streamText = sse([
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-5","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
  ...Array.from(
    { length: 200 },
    (_, i) =>
      `{"id":"chatcmpl-1","model":"gpt-5","choices":[{"index":0,"delta":{"content":"w${i} ünïcødé ✓ "},"finish_reason":null}]}`,
  ),
  '{"id":"chatcmpl-1","model":"gpt-5","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
  '{"id":"chatcmpl-1","model":"gpt-5","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":200,"total_tokens":203}}',
]);

/** Splits bytes at awkward places (inside UTF-8 sequences, inside events). */
function splitOddly(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let size = 1;
  while (i < bytes.length) {
    out.push(bytes.subarray(i, i + size));
    i += size;
    size = (size * 7 + 3) % 997 || 1;
  }
  return out;
}

const payloads: Record<string, Payload> = {
  json: {
    contentType: 'application/json',
    chunks: [
      Buffer.from(
        JSON.stringify({
          request_id: 'r-1',
          model: 'gpt-5',
          choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }],
        }),
      ),
    ],
  },
  sse: { contentType: 'text/event-stream; charset=utf-8', chunks: splitOddly(Buffer.from(streamText)) },
  gzipJson: {
    contentType: 'application/json',
    gzip: true,
    chunks: [Buffer.from(JSON.stringify({ request_id: 'r-gz', usage: { input_tokens: 1, output_tokens: 2 } }))],
  },
  largeSse: {
    contentType: 'text/event-stream',
    chunks: Array.from({ length: 1024 }, (_, i) =>
      Buffer.from(`data: {"id":"c","choices":[{"delta":{"content":"${'x'.repeat(1000)}${i}"}}]}\n\n`),
    ),
  },
  binary: { contentType: 'application/octet-stream', chunks: [randomBytes(300_000)] },
  html: { contentType: 'text/html', chunks: [Buffer.from('<html><body><h1>502 Bad Gateway</h1></body></html>')] },
};

let server: Server;
let base: string;
let telemetry: TestTelemetry;

beforeAll(async () => {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for await (const _ of req) {
      // drain the request
    }
    const payload = payloads[new URL(req.url!, 'http://x').searchParams.get('case')!];
    res.writeHead(200, {
      'content-type': payload.contentType,
      ...(payload.gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    if (payload.gzip) {
      res.end(gzipSync(Buffer.concat(payload.chunks)));
      return;
    }
    for (const chunk of payload.chunks) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  };
  // A request the server fails to answer (its client went away mid-body) ends its socket.
  server = createServer((req, res) => void serve(req, res).catch(() => res.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
  telemetry = setupTelemetry([{ host: `127.0.0.1:${port}` }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

type Reader = (res: Response) => Promise<Buffer>;
const readers: Record<string, Reader> = {
  arrayBuffer: async (res) => Buffer.from(await res.arrayBuffer()),
  text: async (res) => Buffer.from(await res.text()),
  bytes: async (res) => Buffer.from(await (res as unknown as { bytes(): Promise<Uint8Array> }).bytes()),
  defaultReader: async (res) => {
    const parts: Buffer[] = [];
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return Buffer.concat(parts);
      parts.push(Buffer.from(value));
    }
  },
  byobReader: async (res) => {
    const parts: Buffer[] = [];
    const reader = res.body!.getReader({ mode: 'byob' });
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(777));
      if (done) return Buffer.concat(parts);
      parts.push(Buffer.from(value));
    }
  },
  forAwait: async (res) => {
    const parts: Buffer[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
    return Buffer.concat(parts);
  },
  pipeThroughTextDecoder: async (res) => {
    let text = '';
    for await (const s of res.body!.pipeThrough(new TextDecoderStream()) as unknown as AsyncIterable<string>) text += s;
    return Buffer.from(text);
  },
};

async function call(name: string, read: Reader): Promise<{ body: Buffer; response: Response }> {
  const response = await fetch(`${base}/v1/chat/completions?case=${name}`, {
    method: 'POST',
    body: JSON.stringify({ model: 'gpt-5', stream: name.includes('sse') }),
  });
  return { body: await read(response), response };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(Object.keys(payloads))('%s body', (name) => {
  it.each(Object.keys(readers))('reaches the application byte-identical through %s', async (readerName) => {
    const read = readers[readerName];
    telemetry.instrumentation.disable();
    const plain = await call(name, read);
    telemetry.instrumentation.enable();
    telemetry.reset();
    const observed = await call(name, read);
    expect(observed.body.length).toBe(plain.body.length);
    expect(sha(observed.body)).toBe(sha(plain.body));
    expect(observed.response.status).toBe(plain.response.status);
    // Every header but Date (the server's clock may tick between the two calls).
    const headers = (r: Response) => [...r.headers].filter(([k]) => k !== 'date');
    expect(headers(observed.response)).toEqual(headers(plain.response));
    expect(observed.response.url).toBe(plain.response.url);
    expect(observed.response.ok).toBe(true);
    await telemetry.waitForSpans(1);
    expect(telemetry.lifecycle.ended).toBe(1);
  });
});

it('parses what it can from the gzip body the application reads decoded', async () => {
  telemetry.reset();
  await call('gzipJson', readers.text);
  const [span] = await telemetry.waitForSpans(1);
  expect(span.attributes['assemblyai.request_id']).toBe('r-gz');
  expect(span.attributes['gen_ai.usage.output_tokens']).toBe(2);
});

it('reads the stream attributes from a body split at awkward places', async () => {
  telemetry.reset();
  await call('sse', readers.byobReader);
  const [span] = await telemetry.waitForSpans(1);
  expect(span.attributes).toMatchObject({
    'gen_ai.response.id': 'chatcmpl-1',
    'gen_ai.response.model': 'gpt-5',
    'gen_ai.response.finish_reasons': ['stop'],
    'gen_ai.usage.input_tokens': 3,
    'gen_ai.usage.output_tokens': 200,
  });
});
