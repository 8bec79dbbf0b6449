/**
 * The `assemblyai` SDK's `llmGateway` service, traced by the LLM Gateway instrumentation.
 *
 *   node --import tsx examples/assemblyai-app.ts                         # simulated gateway, span printed
 *   ASSEMBLYAI_API_KEY=... node --import tsx examples/assemblyai-app.ts  # the real gateway (US)
 *   ASSEMBLYAI_API_KEY=... ASSEMBLYAI_REGION=eu node --import tsx examples/assemblyai-app.ts
 */
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AssemblyAI } from 'assemblyai';
// In your app: from 'opentelemetry-instrumentation-llm-gateway'.
import { LlmGatewayInstrumentation } from '../src';
import { defaultToConsoleExport, describeTarget, gatewayTarget } from './demo/target';

async function main(): Promise<void> {
  const target = await gatewayTarget();
  defaultToConsoleExport();
  const sdk = new NodeSDK({
    serviceName: 'llm-gateway-assemblyai-app',
    instrumentations: [new LlmGatewayInstrumentation({ hosts: target.hosts })],
  });
  sdk.start();
  console.log(`calling the ${describeTarget(target)}`);

  try {
    // `llmGatewayBaseUrl` picks the region: https://llm-gateway.eu.assemblyai.com for EU.
    const client = new AssemblyAI({ apiKey: target.apiKey, llmGatewayBaseUrl: target.baseUrl });
    const result = await client.llmGateway.chatCompletions({
      model: target.model,
      messages: [{ role: 'user', content: 'In one sentence: what does OpenTelemetry do?' }],
      max_tokens: 100,
    });
    // The content is a string, or a list of parts.
    const content = result.choices[0]?.message?.content;
    const answer =
      typeof content === 'string' ? content : (content?.map((part) => part.text).join('') ?? '(no content)');
    console.log(`request_id ${result.request_id}: ${answer}`);
  } catch (error) {
    // LlmGatewayError carries the status and the body's request_id.
    const e = error as { status?: number; requestId?: string; message?: string };
    console.error(`failed: HTTP ${e.status ?? '?'}, request_id ${e.requestId ?? '(none)'}: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await sdk.shutdown();
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
