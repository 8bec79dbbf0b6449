// The fast gateway: a process of its own that answers with whole responses built once and held
// in memory, so that the client, not the server, is what a benchmark round measures. Started
// by bench/worker.ts with an IPC channel; it answers `cpu` with its own process.cpuUsage(),
// so every block of a round knows how busy the server was while the client worked.
//
// A minimal HTTP/1.1 server on raw sockets (keep-alive, Content-Length request bodies, which
// is what fetch and the openai SDK send for a string body): node:http spends ~4 socket writes
// of JavaScript per body chunk, which on a 1.1 MB stream made the server as busy as the
// client. The bytes on the wire are those of a real server: SSE as HTTP chunks of a few KB
// of whole events, JSON with Content-Length, the gateway's rate-limit headers.
//
// Four listeners on 127.0.0.1: gateway over HTTP and over TLS (listed in the instrumentation's
// `hosts`), and the same responses on two more ports that are not (the non-gateway workload).
import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { buildPayloads, EVENT_CHUNKS_MARKER, RATE_LIMIT_HEADERS, STREAM_MARKER } from './payloads';
import { mainThreadTimes } from './schedstat';

export interface ServerPorts {
  gatewayHttp: number;
  gatewayTls?: number;
  otherHttp: number;
  otherTls?: number;
}
export type ServerMessage = { ready: ServerPorts } | { cpu: NodeJS.CpuUsage; at: number; runQueueMs: number };

const payloads = buildPayloads(Number(process.env.BENCH_STREAM_BYTES), Number(process.env.BENCH_SSE_WRITE_BYTES));

/** Status line and headers as a gateway behind a cloud load balancer sends them. */
function head(headers: Record<string, string>): string {
  const all: Record<string, string> = {
    date: new Date().toUTCString(),
    ...headers,
    ...RATE_LIMIT_HEADERS,
    via: '1.1 google',
    connection: 'keep-alive',
    'keep-alive': 'timeout=120',
  };
  return `HTTP/1.1 200 OK\r\n${Object.entries(all)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
}

const jsonResponse = Buffer.concat([
  Buffer.from(head({ 'content-type': 'application/json', 'content-length': String(payloads.chatJson.length) })),
  payloads.chatJson,
]);
// Each of the server's writes is one HTTP chunk, as a server flushing its output sends it.
const sseResponse = (writes: readonly Buffer[]) =>
  Buffer.concat([
    Buffer.from(
      head({
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'transfer-encoding': 'chunked',
      }),
    ),
    ...writes.flatMap((write) => [Buffer.from(`${write.length.toString(16)}\r\n`), write, Buffer.from('\r\n')]),
    Buffer.from('0\r\n\r\n'),
  ]);
const sseFewKbChunks = sseResponse(payloads.sseWrites);
const sseEventChunks = sseResponse(payloads.sseEventWrites);
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED_REQUEST = /\r\ntransfer-encoding:[^\r]*chunked/i;

/** Reads requests off one keep-alive connection and answers each with a pre-built response. */
function serve(socket: Socket): void {
  let pending: Buffer | undefined;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      const headEnd = buffer.indexOf('\r\n\r\n');
      if (headEnd === -1) break;
      const requestHead = buffer.toString('latin1', 0, headEnd);
      if (CHUNKED_REQUEST.test(requestHead)) {
        socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      const end = headEnd + 4 + Number(CONTENT_LENGTH.exec(requestHead)?.[1] ?? 0);
      if (buffer.length < end) break;
      // Substring tests on the raw request body: no JSON is parsed or built per request.
      const body = buffer.subarray(headEnd + 4, end);
      socket.write(
        !body.includes(STREAM_MARKER)
          ? jsonResponse
          : body.includes(EVENT_CHUNKS_MARKER)
            ? sseEventChunks
            : sseFewKbChunks,
      );
      buffer = buffer.subarray(end);
    }
    pending = buffer.length > 0 ? buffer : undefined;
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function main(): Promise<void> {
  const send = (message: ServerMessage) => process.send!(message);
  const certPath = process.env.BENCH_TLS_CERT;
  const tls = certPath
    ? { cert: readFileSync(certPath), key: readFileSync(process.env.BENCH_TLS_KEY!), ALPNProtocols: ['http/1.1'] }
    : undefined;
  const ports: ServerPorts = {
    gatewayHttp: await listen(createTcpServer(serve)),
    otherHttp: await listen(createTcpServer(serve)),
  };
  if (tls) {
    ports.gatewayTls = await listen(createTlsServer(tls, serve));
    ports.otherTls = await listen(createTlsServer(tls, serve));
  }
  process.on('message', (message) => {
    if (message === 'cpu')
      send({ cpu: process.cpuUsage(), at: performance.now(), runQueueMs: mainThreadTimes().waitingMs });
  });
  // The worker that started this server is gone: so is the reason to serve.
  process.on('disconnect', () => process.exit(0));
  send({ ready: ports });
}

main().catch((error: unknown) => {
  console.error('bench server:', error);
  process.exit(1);
});
