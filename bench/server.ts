// The fast gateway: a process of its own that serves pre-built bodies from memory, so that the
// client, not the server, is what a benchmark round measures. Started by bench/worker.ts with
// an IPC channel; it answers `cpu` with its own process.cpuUsage(), so every block of a round
// knows how busy the server was while the client worked.
//
// Four listeners on 127.0.0.1: gateway over HTTP and over TLS (listed in the instrumentation's
// `hosts`), and the same handler on two more ports that are not (the non-gateway workload).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { runQueueWaitMs } from './schedstat';
import { buildPayloads, RATE_LIMIT_HEADERS, STREAM_MARKER } from './payloads';

export interface ServerPorts {
  gatewayHttp: number;
  gatewayTls?: number;
  otherHttp: number;
  otherTls?: number;
}
export type ServerMessage = { ready: ServerPorts } | { cpu: NodeJS.CpuUsage; at: number; runQueueMs: number };

const payloads = buildPayloads(Number(process.env.BENCH_STREAM_BYTES), Number(process.env.BENCH_SSE_WRITE_BYTES));
const jsonHeaders = { 'content-type': 'application/json', 'content-length': String(payloads.chatJson.length), ...RATE_LIMIT_HEADERS };
const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...RATE_LIMIT_HEADERS };

function handle(req: IncomingMessage, res: ServerResponse): void {
  let stream = false;
  // A substring test on the raw request bytes: no JSON is parsed or built per request.
  req.on('data', (chunk: Buffer) => {
    if (!stream && chunk.includes(STREAM_MARKER)) stream = true;
  });
  req.on('end', () => (stream ? writeStream(res) : res.writeHead(200, jsonHeaders).end(payloads.chatJson)));
}

/** Whole events in writes of a few KB, as a server flushing its output would; waits on 'drain'. */
function writeStream(res: ServerResponse): void {
  res.writeHead(200, sseHeaders);
  let next = 0;
  const writeMore = () => {
    while (next < payloads.sseWrites.length) {
      if (!res.write(payloads.sseWrites[next++])) {
        res.once('drain', writeMore);
        return;
      }
    }
    res.end();
  };
  writeMore();
}

async function listen(server: Server): Promise<number> {
  // The default 5 s would close idle connections between rounds; a real gateway keeps them.
  server.keepAliveTimeout = 120_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function main(): Promise<void> {
  const send = (message: ServerMessage) => process.send!(message);
  const certPath = process.env.BENCH_TLS_CERT;
  const tls = certPath ? { cert: readFileSync(certPath), key: readFileSync(process.env.BENCH_TLS_KEY!) } : undefined;
  const ports: ServerPorts = {
    gatewayHttp: await listen(createHttpServer(handle)),
    otherHttp: await listen(createHttpServer(handle)),
  };
  if (tls) {
    ports.gatewayTls = await listen(createHttpsServer(tls, handle));
    ports.otherTls = await listen(createHttpsServer(tls, handle));
  }
  process.on('message', (message) => {
    if (message === 'cpu') send({ cpu: process.cpuUsage(), at: performance.now(), runQueueMs: runQueueWaitMs() });
  });
  // The worker that started this server is gone: so is the reason to serve.
  process.on('disconnect', () => process.exit(0));
  send({ ready: ports });
}

main().catch((error: unknown) => {
  console.error('bench server:', error);
  process.exit(1);
});
