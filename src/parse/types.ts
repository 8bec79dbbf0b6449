/** What the request body tells about a call. Every field is best effort. */
export interface RequestInfo {
  model?: string;
  /** `max_tokens ?? max_completion_tokens` (the newer OpenAI name counts too). */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  topK?: number;
  seed?: number;
  /** `stop` as a string or an array of strings (at most MAX_STOP_SEQUENCES, each bounded). */
  stopSequences?: string[];
  /** `n`, only when it is an integer other than 1. */
  choiceCount?: number;
  /** `json` for a `response_format` of type json_object or json_schema, `text` for type text. */
  outputType?: 'json' | 'text';
  /** `reasoning_effort` (or `reasoning.effort`), the string as sent. */
  reasoningLevel?: string;
  /** The `model` of each entry of `fallbacks` (at most MAX_FALLBACK_MODELS). */
  fallbackModels?: string[];
  /** `model_region` (today only `global`). */
  modelRegion?: string;
  /** `transcript_id`: links the call to its AssemblyAI transcript. */
  transcriptId?: string;
  stream: boolean;
  /** The body's shape, when it was parsed whole: what the guide's common mistakes look at. */
  shape?: RequestShape;
  /** `messages` (or `prompt`) as sent, only when message content capture is on. */
  inputMessages?: unknown;
  /** `tools` as sent, only when message content capture is on (see formatToolDefinitions). */
  toolDefinitions?: unknown;
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
  /** By choice index, without gaps; `error` for a choice whose finish reason never came. */
  finishReasons?: string[];
  inputTokens?: number;
  outputTokens?: number;
  /** Subset of inputTokens read from the provider's cache. */
  cacheReadInputTokens?: number;
  /** Subset of inputTokens written to the provider's cache. */
  cacheWriteInputTokens?: number;
  /** Subset of outputTokens spent on reasoning. */
  reasoningOutputTokens?: number;
  /** The body's `llm_status_code`: the status the upstream provider gave the gateway. */
  providerStatusCode?: number;
  /** The body's `response_time` (nanoseconds) in seconds: the gateway's own time. */
  gatewayDurationSeconds?: number;
  error?: GatewayErrorInfo;
  /** The assistant's output per choice, only when message content capture is on. */
  outputMessages?: OutputMessage[];
}

export interface OutputMessage {
  role: string;
  content: string;
  finishReason?: string;
  /** The tool calls the model asked for (`arguments` as sent: a JSON string, maybe cut at the content cap). */
  toolCalls?: OutputToolCall[];
}

export interface OutputToolCall {
  id?: string;
  name?: string;
  arguments: string;
}

/** How the body ended, as the transport saw it. */
export interface BodyEnd {
  /**
   * The whole body arrived (the application read it to its end). False when it was cut,
   * cancelled, aborted or failed: choices without a finish reason then get `error`.
   */
  complete: boolean;
  /**
   * How many choices a successful chat call should have (`n ?? 1`); only used when the body is
   * not complete, so the choices that never started count as cut too.
   */
  expectedChoices?: number;
}

/** A parser fed the decoded response body one chunk at a time, with bounded memory. */
export interface BodyObserver {
  /**
   * One chunk of the body. Unless the observer was created with `stableChunks: true`, the
   * chunk is assumed to be reused or transferred once write returns, so whatever is kept is
   * copied.
   */
  write(chunk: Uint8Array): void;
  /**
   * Called once, when the body ended (or was cut short); returns what was learned.
   * With `end`, choices whose finish reason never came get `error` (see BodyEnd). Without it
   * (the older call) the body counts as complete and no `error` is added.
   */
  finish(end?: BodyEnd): ResponseInfo;
}

/** Options every body observer takes. */
export interface BodyObserverOptions {
  /** With content capture on: assemble the assistant's output. */
  captureContent?: boolean;
  /**
   * The transport never reuses or detaches a chunk after handing it over (undici's
   * `bodyChunkReceived` Buffers on Node >= 24.4), so references may be kept instead of copies.
   */
  stableChunks?: boolean;
}
