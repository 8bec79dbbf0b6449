/** What the request body tells about a call. Every field is best effort. */
export interface RequestInfo {
  model?: string;
  maxTokens?: number;
  temperature?: number;
  stream: boolean;
  /** The body's shape, when it was parsed whole: what the guide's common mistakes look at. */
  shape?: RequestShape;
  /** `messages` (or `prompt`) as sent, only when message content capture is on. */
  inputMessages?: unknown;
  /** The `model` of each of the request's `fallbacks`. */
  fallbackModels?: string[];
  /** `n`, only when it is not 1. */
  choiceCount?: number;
}

export interface RequestShape {
  hasModel: boolean;
  messages: 'array' | 'string' | 'missing' | 'other';
  hasPrompt: boolean;
  /** `max_tokens` is absent, or an integer >= 1. */
  maxTokensValid: boolean;
}

/** An error as the gateway (or a proxy in front of it) reported it in a response body. */
export interface GatewayErrorInfo {
  code?: string;
  message?: string;
  param?: string;
}

/** What a response body (JSON or SSE) tells about a call. Every field is best effort. */
export interface ResponseInfo {
  requestId?: string;
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
  inputTokens?: number;
  outputTokens?: number;
  error?: GatewayErrorInfo;
  /** The assistant's output per choice, only when message content capture is on. */
  outputMessages?: OutputMessage[];
  /** Usage details: subsets of inputTokens / outputTokens, never added to them. */
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
  reasoningOutputTokens?: number;
  /** `llm_status_code`: the status the model provider gave the gateway. */
  providerStatusCode?: number;
  /** `response_time` (nanoseconds) in seconds: the gateway's own time. */
  gatewayDurationSeconds?: number;
}

export interface OutputMessage {
  role: string;
  content: string;
  finishReason?: string;
}

/** A parser fed the decoded response body one chunk at a time, with bounded memory. */
export interface BodyObserver {
  write(chunk: Uint8Array): void;
  /** Called once, when the body ended (or was cut short); returns what was learned. */
  finish(): ResponseInfo;
}
