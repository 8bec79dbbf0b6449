/**
 * The chat request every client adapter sends: test/support/clients.ts (the clients installed
 * with the project) and test/versions/clients.ts (a client version from the matrix's scratch app).
 * No client is imported here, so the matrix loads only the version under test.
 */
export interface ChatOptions {
  baseUrl: string;
  apiKey: string;
  model: string;
  stream?: boolean;
  /** Simulated-gateway scenario, sent in the body (`x_sim`) so every client can send it. */
  sim?: Record<string, unknown>;
  maxTokens?: number;
  temperature?: number;
}

export function requestBody(o: ChatOptions): Record<string, unknown> {
  return {
    model: o.model,
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
    max_tokens: o.maxTokens ?? 200,
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(o.sim ? { x_sim: o.sim } : {}),
  };
}
