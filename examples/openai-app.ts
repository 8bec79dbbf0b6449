/**
 * The `openai` SDK pointed at the LLM Gateway (`baseURL: <gateway>/v1`): one call and one
 * stream, each traced as a `chat {model}` span.
 *
 *   node --import tsx examples/openai-app.ts                          # simulated gateway, spans printed
 *   ASSEMBLYAI_API_KEY=... node --import tsx examples/openai-app.ts   # the real gateway (US)
 *   ASSEMBLYAI_API_KEY=... ASSEMBLYAI_REGION=eu node --import tsx examples/openai-app.ts
 */
import { NodeSDK } from '@opentelemetry/sdk-node';
import OpenAI from 'openai';
// In your app: from 'opentelemetry-instrumentation-llm-gateway'.
import { LlmGatewayInstrumentation } from '../src';
import { defaultToConsoleExport, describeTarget, gatewayTarget } from './demo/target';

async function main(): Promise<void> {
  const target = await gatewayTarget();
  defaultToConsoleExport();
  const sdk = new NodeSDK({
    serviceName: 'llm-gateway-openai-app',
    instrumentations: [new LlmGatewayInstrumentation({ hosts: target.hosts })],
  });
  sdk.start();
  console.log(`calling the ${describeTarget(target)}`);

  try {
    // Create the client after sdk.start(): the SDK keeps the fetch it finds at construction.
    const client = new OpenAI({
      apiKey: target.apiKey,
      baseURL: `${target.baseUrl}/v1`,
      organization: null,
      project: null,
    });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'In one sentence: what does OpenTelemetry do?' },
    ];

    const completion = await client.chat.completions.create({ model: target.model, messages, max_tokens: 100 });
    // The gateway adds request_id to the body; the SDK's type does not declare it.
    const requestId = (completion as unknown as { request_id?: string }).request_id;
    console.log(`request_id ${requestId ?? '(none)'}: ${completion.choices[0]?.message.content}`);

    const stream = await client.chat.completions.create({
      model: target.model,
      messages,
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    console.log(`stream: ${text.trim()}`);
    console.log(`stream usage: ${usage?.prompt_tokens ?? '?'} in, ${usage?.completion_tokens ?? '?'} out`);
  } finally {
    await sdk.shutdown();
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
