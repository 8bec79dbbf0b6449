/** Bodies up to this size are parsed exactly with JSON.parse; larger ones are scanned. */
export const MAX_PARSED_JSON_BYTES = 256 * 1024;
/** Bytes kept from each end of a JSON body too large to parse whole. */
export const JSON_SCAN_WINDOW_BYTES = 16 * 1024;
/** One SSE line longer than this is dropped (still passed to the app untouched). */
export const MAX_SSE_LINE_BYTES = 256 * 1024;
/** Longest error message kept on a span. */
export const MAX_ERROR_MESSAGE_LENGTH = 500;
/** Longest identifier (request id, model, response id) kept. */
export const MAX_ID_LENGTH = 256;
/** Request bodies up to this size are parsed with JSON.parse; larger ones are scanned. */
export const MAX_PARSED_REQUEST_CHARS = 64 * 1024;
/** Bytes kept from the end of a streamed response, where finish_reason and usage arrive. */
export const SSE_TAIL_WINDOW_BYTES = 32 * 1024;
/** With content capture on, request bodies up to this size are parsed for their messages. */
export const MAX_CAPTURED_REQUEST_CHARS = 1024 * 1024;
/** Longest captured message content (each of input and output), in characters. */
export const MAX_CAPTURED_CONTENT_CHARS = 16 * 1024;
/** Most `stop` sequences kept from a request. */
export const MAX_STOP_SEQUENCES = 16;
/** Most `fallbacks` models kept from a request. */
export const MAX_FALLBACK_MODELS = 16;
/** Characters scanned at each end of a large request body for the optional scalars. */
export const REQUEST_SCAN_WINDOW_CHARS = 8 * 1024;
/** Most tool calls kept per captured output message, and tool definitions per request. */
export const MAX_CAPTURED_TOOL_CALLS = 64;
