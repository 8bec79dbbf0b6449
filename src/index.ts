export { LlmGatewayInstrumentation } from './instrumentation';
export type { GatewayHost, LlmGatewayInstrumentationConfig } from './config';
