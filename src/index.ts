export { LlmGatewayInstrumentation } from './instrumentation';
export type { GatewayHost, LlmGatewayInstrumentationConfig } from './config';
export type { RedactMessageContent } from './content';
export type { LlmGatewayCallRecord } from './record';
