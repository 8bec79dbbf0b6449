/**
 * A chat completion with the global `fetch`, traced by the LLM Gateway instrumentation.
 *
 *   node --import tsx examples/fetch-app.ts                           # simulated gateway, span printed
 *   ASSEMBLYAI_API_KEY=... node --import tsx examples/fetch-app.ts    # the real gateway (US)
 *   ASSEMBLYAI_API_KEY=... ASSEMBLYAI_REGION=eu node --import tsx examples/fetch-app.ts
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 ...            # spans and metrics to Jaeger/a collector
 */
import { NodeSDK } from '@opentelemetry/sdk-node';
// In your app: from 'opentelemetry-instrumentation-llm-gateway'.
import { LlmGatewayInstrumentation } from '../src';
import { defaultToConsoleExport, describeTarget, gatewayTarget } from './demo/target';

async function main(): Promise<void> {
  const target = await gatewayTarget();
  defaultToConsoleExport();
  // Start the SDK before the first call: the instrumentation wraps the global fetch.
  const sdk = new NodeSDK({
    serviceName: 'llm-gateway-fetch-app',
    instrumentations: [new LlmGatewayInstrumentation({ hosts: target.hosts })],
  });
  sdk.start();
  console.log(`calling the ${describeTarget(target)}`);

  try {
    const response = await fetch(`${target.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      // The documented form: the raw key in `Authorization`, no `Bearer`.
      headers: { Authorization: target.apiKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model: target.model,
        messages: [{ role: 'user', content: 'In one sentence: what does OpenTelemetry do?' }],
        max_tokens: 100,
      }),
    });
    const body = (await response.json()) as {
      request_id?: string;
      choices?: { message?: { content?: string } }[];
      error?: unknown;
    };
    // The span carries request_id too; an app log line with it is what support asks for.
    console.log(`HTTP ${response.status}, request_id ${body.request_id ?? '(none)'}`);
    console.log(body.choices?.[0]?.message?.content ?? JSON.stringify(body));
    if (!response.ok) process.exitCode = 1;
  } finally {
    await sdk.shutdown();
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
