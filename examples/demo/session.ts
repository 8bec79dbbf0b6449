/**
 * The scripted session: the calls a newcomer should see as spans. Each step makes its calls
 * with one of the three clients people use (global fetch, the openai SDK, the assemblyai SDK)
 * and says how many calls it made, so the runner knows how many spans to wait for.
 * A failing call is part of the script: errors are caught and shown as spans, never thrown.
 */
import { AssemblyAI } from 'assemblyai';
import OpenAI from 'openai';

export interface DemoGateways {
  /** Base URLs without `/v1`. */
  us: string;
  eu: string;
  apiKey: string;
}

export interface Step {
  title: string;
  detail: string;
  /** Makes the step's calls; returns how many requests it sent. */
  run(): Promise<number>;
}

/** Most calls a burst sends while looking for the rate limit. */
export const BURST_MAX_CALLS = 40;
/** A burst stops after this many 429s. */
export const BURST_REJECTIONS = 2;

const QUESTION = [{ role: 'user' as const, content: 'Which region served this request?' }];

/** A long, stable system prompt marked for Claude's prompt cache (gateway-api.md §10 G1). */
const CACHED_SYSTEM = {
  role: 'system' as const,
  content: [
    {
      type: 'text',
      text: `You summarise customer calls for a support team. ${'Keep names, dates, amounts and promised follow-ups; drop greetings and small talk. '.repeat(12)}`,
      cache_control: { type: 'ephemeral' },
    },
  ],
};

/** A chat completion with the global fetch; returns the status, or 0 when the request failed. */
async function fetchChat(
  baseUrl: string,
  headers: Record<string, string>,
  body: Record<string, unknown>,
): Promise<number> {
  try {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify({ messages: QUESTION, max_tokens: 60, ...body }),
    });
    await response.text();
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * The session against a US and an EU gateway. The SDK clients are created here, after the
 * instrumentation is enabled: the openai SDK keeps the fetch it finds at construction.
 */
export function demoSession(gateways: DemoGateways): Step[] {
  const { us, eu, apiKey } = gateways;
  // maxRetries 0: one scripted call is one request, so one span (the SDK would retry 429 and 5xx).
  const openaiClient = (baseUrl: string) =>
    new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 0, organization: null, project: null });
  const openaiUs = openaiClient(us);
  const openaiEu = openaiClient(eu);
  const assemblyai = new AssemblyAI({ apiKey, llmGatewayBaseUrl: us });

  return [
    {
      title: 'A US call',
      detail: 'global fetch, Authorization: <key>',
      async run() {
        await fetchChat(us, { Authorization: apiKey }, { model: 'claude-sonnet-4-6' });
        return 1;
      },
    },
    {
      title: 'An EU call',
      detail: 'openai SDK, baseURL at the EU gateway',
      async run() {
        await openaiEu.chat.completions
          .create({ model: 'claude-sonnet-4-6', messages: QUESTION, max_tokens: 60 })
          .catch(() => undefined);
        return 1;
      },
    },
    {
      title: 'A stream',
      detail: 'openai SDK, stream: true (x_sim: the simulator puts request_id on the chunks)',
      async run() {
        try {
          // Live streams have shown no request_id (the row then shows the chunk id); the
          // instrumentation takes it from any chunk that has one.
          const request = {
            model: 'gpt-5-mini',
            messages: QUESTION,
            max_tokens: 60,
            stream: true as const,
            stream_options: { include_usage: true },
            x_sim: { streamRequestId: true },
          };
          const stream = await openaiUs.chat.completions.create(request);
          for await (const _chunk of stream) {
            // The span ends when the stream does.
          }
        } catch {
          // shown as the span's error
        }
        return 1;
      },
    },
    {
      title: 'A burst into 429s',
      detail: `global fetch, one model until the gateway answers 429 ${BURST_REJECTIONS} times (limits are per model)`,
      async run() {
        let sent = 0;
        let rejected = 0;
        while (sent < BURST_MAX_CALLS && rejected < BURST_REJECTIONS) {
          const status = await fetchChat(us, { Authorization: apiKey }, { model: 'gemini-2.5-flash', max_tokens: 20 });
          sent++;
          if (status === 429) rejected++;
          else if (status !== 200) break;
        }
        return sent;
      },
    },
    {
      title: 'A misspelled auth header',
      detail: 'global fetch with "Authorisation: <key>": the gateway sees no Authorization header',
      async run() {
        await fetchChat(us, { Authorisation: apiKey }, { model: 'claude-sonnet-4-6' });
        return 1;
      },
    },
    {
      title: 'An upstream failure',
      detail: 'assemblyai SDK; the simulator answers 503 (x_sim: {status: 503})',
      async run() {
        const request = {
          model: 'claude-opus-4-6',
          messages: QUESTION,
          max_tokens: 60,
          x_sim: { status: 503 },
        };
        await assemblyai.llmGateway
          .chatCompletions(request as Parameters<typeof assemblyai.llmGateway.chatCompletions>[0])
          .catch(() => undefined);
        return 1;
      },
    },
    {
      title: 'A cached prompt',
      detail:
        'global fetch, twice with one system prompt marked cache_control: the second call reads it from the cache',
      async run() {
        for (const question of [
          'Summarise the call with ACME about the late invoice.',
          'Summarise the call with Globex about the upgrade.',
        ]) {
          await fetchChat(
            us,
            { Authorization: apiKey },
            { model: 'claude-opus-4-6', messages: [CACHED_SYSTEM, { role: 'user', content: question }] },
          );
        }
        return 2;
      },
    },
    {
      title: 'A fallback',
      detail: 'global fetch, fallbacks: [gpt-5]; the simulator fails claude-haiku-4-5 upstream (x_sim: {failModels})',
      async run() {
        await fetchChat(
          us,
          { Authorization: apiKey },
          {
            model: 'claude-haiku-4-5-20251001',
            fallbacks: [{ model: 'gpt-5' }],
            x_sim: { failModels: ['claude-haiku-4-5-20251001'] },
          },
        );
        return 1;
      },
    },
  ];
}
