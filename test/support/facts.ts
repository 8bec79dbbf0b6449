import type { CallFacts } from '../../src/facts';

/** A finished, successful chat call's facts, for unit tests of the steps that report a call. */
export function callFacts(overrides: Partial<CallFacts> = {}): CallFacts {
  const url = new URL('https://llm-gateway.assemblyai.com/v1/chat/completions');
  return {
    operation: 'chat',
    method: 'POST',
    url,
    serverAddress: url.hostname,
    serverPort: 443,
    region: 'us',
    request: undefined,
    requestHeaders: undefined,
    application: undefined,
    status: 200,
    rateLimit: {},
    isEventStream: false,
    response: {},
    requestId: undefined,
    outcome: { kind: 'completed' },
    errorCode: undefined,
    errorType: undefined,
    statusMessage: undefined,
    fallbackUsed: undefined,
    startedAt: 0,
    endedAt: 100,
    firstChunkAt: undefined,
    ...overrides,
  };
}
