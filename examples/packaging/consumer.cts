// Type-checked against the installed package by test/packaging.test.ts: what a TypeScript user
// of the CommonJS build writes.
import gateway = require('opentelemetry-instrumentation-llm-gateway');

const config: gateway.LlmGatewayInstrumentationConfig = { hosts: [{ host: 'llm-proxy.internal' }] };
export const instrumentation = new gateway.LlmGatewayInstrumentation(config);

// @ts-expect-error: the config is typed, not `any`.
new gateway.LlmGatewayInstrumentation({ maxCallDurationMs: 'long' });
