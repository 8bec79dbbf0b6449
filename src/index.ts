export { LlmGatewayInstrumentation } from './instrumentation';
export { setLlmGatewayContext, withLlmGatewayContext } from './context';
export type {
  GatewayHost,
  LlmGatewayCallRecord,
  LlmGatewayContext,
  LlmGatewayInstrumentationConfig,
  MessageContentCapture,
  OtherGenAiSpanMode,
  RedactMessageContent,
} from './types';
