export { LlmGatewayInstrumentation } from './instrumentation';
export { setLlmGatewayContext, withLlmGatewayContext } from './context';
export type {
  GatewayHost,
  LlmGatewayCallRecord,
  LlmGatewayContext,
  LlmGatewayInstrumentationConfig,
  MessageContentCapture,
  OuterGenAiSpanMode,
  RedactMessageContent,
} from './types';
