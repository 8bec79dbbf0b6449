import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Prompts and completions reach telemetry only on opt-in, capped, and through the redact hook.

const SECRET_PROMPT = 'My card number is 4111-1111-1111-1111, what is the capital of France?';
let gateway: SimulatedGateway;
let telemetry: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());

const hosts = () => [{ host: `127.0.0.1:${gateway.port}` }];
const client = () => new OpenAI({ apiKey: 'k', baseURL: `${gateway.url}/v1`, maxRetries: 0 });

async function ask(stream: boolean, content = SECRET_PROMPT): Promise<string> {
  if (!stream) {
    const r = await client().chat.completions.create({
      model: 'gpt-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content },
      ],
    });
    return r.choices[0].message.content!;
  }
  const s = await client().chat.completions.create({
    model: 'gpt-5',
    stream: true,
    messages: [{ role: 'user', content }],
  });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

function dump(): string {
  return JSON.stringify({
    spans: telemetry.spans().map((s) => ({ a: s.attributes, e: s.events })),
    logs: telemetry.logs().map((l) => ({ b: l.body, a: l.attributes })),
  });
}

describe('message content capture', () => {
  it('records no content at all when off (the default)', async () => {
    const reply = await ask(false);
    await ask(true);
    await telemetry.waitForSpans(2);
    const all = dump();
    expect(all).not.toContain('4111-1111');
    expect(all).not.toContain(reply.slice(0, 30));
    expect(all).not.toContain('gen_ai.input.messages');
  });

  it('records input and output messages in the semconv structure when on', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), captureMessageContent: true });
    try {
      const reply = await ask(false);
      const [span] = await telemetry.waitForSpans(1);
      expect(JSON.parse(String(span.attributes['gen_ai.input.messages']))).toEqual([
        { role: 'system', parts: [{ type: 'text', content: 'Be brief.' }] },
        { role: 'user', parts: [{ type: 'text', content: SECRET_PROMPT }] },
      ]);
      expect(JSON.parse(String(span.attributes['gen_ai.output.messages']))).toEqual([
        { role: 'assistant', parts: [{ type: 'text', content: reply }], finish_reason: 'stop' },
      ]);
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });

  it('assembles a streamed reply from its deltas', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), captureMessageContent: true });
    try {
      const reply = await ask(true);
      const [span] = await telemetry.waitForSpans(1);
      const output = JSON.parse(String(span.attributes['gen_ai.output.messages']));
      expect(output[0].parts[0].content).toBe(reply);
      expect(output[0].finish_reason).toBe('stop');
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });

  it('passes every piece through the redact hook, and drops a piece whose hook throws', async () => {
    telemetry.instrumentation.setConfig({
      hosts: hosts(),
      captureMessageContent: true,
      redactMessageContent: (content, { direction }) => {
        if (content === 'explode') throw new Error('boom');
        return content.replace(/\d{4}-\d{4}-\d{4}-\d{4}/g, direction === 'input' ? '[card]' : '[card out]');
      },
    });
    try {
      await ask(false);
      await ask(false, 'explode');
      const spans = await telemetry.waitForSpans(2);
      const all = dump();
      expect(all).not.toContain('4111-1111');
      expect(String(spans[0].attributes['gen_ai.input.messages'])).toContain('My card number is [card]');
      expect(String(spans[1].attributes['gen_ai.input.messages'])).toContain('[redaction failed]');
      expect(all).not.toContain('"explode"');
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });

  it('caps captured content whatever the size of the prompt and reply', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), captureMessageContent: true });
    try {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'k' },
        body: JSON.stringify({
          model: 'gpt-5',
          messages: [{ role: 'user', content: 'x'.repeat(500_000) }],
          stream: true,
          x_sim: { replyBytes: 2_000_000 },
        }),
      });
      await res.text();
      const [span] = await telemetry.waitForSpans(1);
      expect(String(span.attributes['gen_ai.input.messages']).length).toBeLessThan(17_000);
      expect(String(span.attributes['gen_ai.output.messages']).length).toBeLessThan(17_000);
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });

  it('turns on from OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true', async () => {
    process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = 'true';
    try {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
      await ask(false);
      const [span] = await telemetry.waitForSpans(1);
      expect(String(span.attributes['gen_ai.input.messages'])).toContain('capital of France');
    } finally {
      delete process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });
});

describe('credentials with content capture on', () => {
  it('never records the API key, even when capturing content and the call goes wrong', async () => {
    const key = 'sk-capture-mode-key-9f8e7d';
    telemetry.instrumentation.setConfig({ hosts: hosts(), captureMessageContent: true });
    try {
      for (const headers of [
        { authorization: `Bearer ${key}` },
        { Authorisation: key },
        { authorization: key },
      ] as Record<string, string>[]) {
        await (
          await fetch(`${gateway.url}/v1/chat/completions?api_key=${key}`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hello' }], stream: true }),
          })
        ).text();
      }
      await telemetry.waitForSpans(3);
      const all = dump();
      expect(all).toContain('gen_ai.input.messages');
      expect(all).not.toContain(key);
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });
});
