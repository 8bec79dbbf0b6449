// Type-checked against the installed package by test/packaging.test.ts: what a TypeScript user
// of the ES module build writes.
import {
  LlmGatewayInstrumentation,
  type LlmGatewayInstrumentationConfig,
} from 'opentelemetry-instrumentation-llm-gateway';

const config: LlmGatewayInstrumentationConfig = {
  hosts: [{ host: 'llm-proxy.internal:8443', region: 'eu' }],
  maxCallDurationMs: 60_000,
};
export const instrumentation: LlmGatewayInstrumentation = new LlmGatewayInstrumentation(config);
instrumentation.disable();

// @ts-expect-error: the config is typed, not `any`.
new LlmGatewayInstrumentation({ hosts: 'llm-proxy.internal' });
