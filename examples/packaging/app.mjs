// An ES module application that knows nothing of OpenTelemetry. Start it with
//   node --import opentelemetry-instrumentation-llm-gateway/register app.mjs
// and each gateway call below becomes a GenAI span, with its HTTP span as a child, exported
// over OTLP as the OTEL_* variables say. GATEWAY_URL (default: the US gateway) and
// ASSEMBLYAI_API_KEY configure the calls.
import http from 'node:http';
import https from 'node:https';

const base = process.env.GATEWAY_URL ?? 'https://llm-gateway.assemblyai.com';
const headers = { authorization: process.env.ASSEMBLYAI_API_KEY ?? '', 'content-type': 'application/json' };
const chat = (extra = {}) =>
  JSON.stringify({
    model: 'claude-sonnet-4-6',
    messages: [{ role: 'user', content: 'What does OpenTelemetry do?' }],
    max_tokens: 100,
    ...extra,
  });

// Global fetch (undici).
const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
const { request_id: fetchRequestId } = await response.json();

// node:http(s), streamed.
const url = new URL(`${base}/v1/chat/completions`);
const streamed = await new Promise((resolve, reject) => {
  const request = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', headers }, async (res) => {
    let text = '';
    for await (const chunk of res) text += chunk;
    resolve(text);
  });
  request.on('error', reject);
  request.end(chat({ stream: true, stream_options: { include_usage: true } }));
});

console.log(JSON.stringify({ fetchRequestId, streamResponseId: /"id":"([^"]+)"/.exec(streamed)?.[1] }));
if (process.env.APP_EXIT_CODE) process.exitCode = Number(process.env.APP_EXIT_CODE);
// Stands for a server: runs until a signal ends it.
if (process.env.APP_STAY_ALIVE) setInterval(() => {}, 1000);
