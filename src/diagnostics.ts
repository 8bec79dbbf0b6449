import type { CallFacts } from './facts';
import { GEN_AI_OPERATION_CHAT, GEN_AI_OPERATION_LIST_MODELS } from './semconv';

/**
 * The causes the gateway's troubleshooting guide lists for most failed calls, recognised from
 * what a call sent and got back, each with a stable id and the guide's one-line fix.
 * A diagnostic is built from header names, the model, numbers and the request id: never from
 * a header value, so it cannot carry a credential.
 */
export interface Diagnostic {
  id: DiagnosticId;
  severity: 'error' | 'warning';
  message: string;
}

export type DiagnosticId =
  | 'auth.header_missing'
  | 'auth.header_misspelled'
  | 'auth.key_in_query'
  | 'auth.bearer_prefix'
  | 'request.model_missing'
  | 'request.messages_or_prompt_missing'
  | 'request.messages_not_array'
  | 'request.max_tokens_out_of_range'
  | 'request.stream_not_streamed'
  | 'model.unknown'
  | 'ratelimit.exceeded'
  | 'gateway.server_error';

const KEY_QUERY_PARAMETER = /^(api[-_]?key|key|token|access[-_]?token|auth|authorization)$/i;
const MODEL_ERROR = /\bmodel\b.*\b(not supported|not found|retired|deprecated|does not exist|unknown|invalid)\b/i;

/** The diagnostics a finished call deserves; none for most successful calls, at little cost. */
export function diagnose(input: CallFacts): Diagnostic[] {
  const found: Diagnostic[] = [];
  const add = (id: DiagnosticId, severity: Diagnostic['severity'], message: string) =>
    found.push({ id, severity, message });
  const { request, status } = input;
  const error = input.response.error;
  const model = request?.model;

  // Authentication: GET /v1/models needs none, so its headers are not judged. A missing or
  // misspelled header shows as a 401/403 (or no answer): only then are the names looked at.
  const authFailed = status === undefined || status === 401 || status === 403;
  if (input.requestHeaders && input.operation !== GEN_AI_OPERATION_LIST_MODELS && authFailed) {
    const names = input.requestHeaders.names().map((n) => n.toLowerCase());
    const hasAuthorization = names.includes('authorization');
    // A look-alike next to a real Authorization header is some other header (x-auth...).
    const lookalike = hasAuthorization ? undefined : names.find((n) => looksLikeAuthorization(n));
    if (lookalike !== undefined) {
      add(
        'auth.header_misspelled',
        'error',
        `Header "${lookalike}" is not "Authorization": the gateway only reads the API key from the Authorization header.`,
      );
    } else if (!hasAuthorization) {
      add(
        'auth.header_missing',
        'error',
        'No Authorization header was sent: pass the API key in the Authorization header.',
      );
    }
    // The gateway accepts "Bearer " (the openai SDK always sends it): only worth a word when
    // authentication failed and the documented form is the thing left to try.
    const authorization = hasAuthorization ? input.requestHeaders.get('authorization') : undefined;
    if (status !== undefined && authorization !== undefined && /^\s*bearer\s/i.test(authorization)) {
      add(
        'auth.bearer_prefix',
        'warning',
        'Authentication failed and the Authorization header has a "Bearer " prefix: the gateway documents the raw key (the prefix is accepted, but try the documented form).',
      );
    }
  }
  // Most calls have no query string: skip building its parameters.
  if (input.url.search) {
    for (const name of input.url.searchParams.keys()) {
      if (KEY_QUERY_PARAMETER.test(name)) {
        add(
          'auth.key_in_query',
          'error',
          `A credential-like query parameter "${name}" was sent: pass the key in the Authorization header, never in the URL (and rotate it: URLs end up in logs).`,
        );
        break;
      }
    }
  }

  // The request body's shape (known when the body was small enough to parse whole).
  const shape = request?.shape;
  if (shape && input.operation === GEN_AI_OPERATION_CHAT) {
    if (!shape.hasModel)
      add(
        'request.model_missing',
        'error',
        'The request has no "model": it is required (see GET /v1/models for the ids).',
      );
    if (shape.messages === 'string') {
      add(
        'request.messages_not_array',
        'error',
        '"messages" was sent as a string: it must be an array of {role, content} objects.',
      );
    } else if (shape.messages === 'missing' && !shape.hasPrompt) {
      add(
        'request.messages_or_prompt_missing',
        'error',
        'The request has neither "messages" nor "prompt": one of them is required.',
      );
    }
  }
  const maxTokensRejected = status === 400 && /max_tokens/i.test(`${error?.message ?? ''} ${error?.param ?? ''}`);
  if ((shape && !shape.maxTokensValid) || maxTokensRejected) {
    add(
      'request.max_tokens_out_of_range',
      'error',
      '"max_tokens" is out of range: it must be an integer from 1 up to below the model\'s context length.',
    );
  }
  if (request?.stream && status !== undefined && status < 400 && !input.isEventStream) {
    add(
      'request.stream_not_streamed',
      'warning',
      '"stream": true was asked but the reply was not an event stream: the model may not support streaming (check supported_parameters in GET /v1/models), or a proxy buffered the response.',
    );
  }

  // What the gateway answered.
  if ((status === 400 || status === 404) && (MODEL_ERROR.test(error?.message ?? '') || error?.param === 'model')) {
    add(
      'model.unknown',
      'error',
      `Model ${model ? `"${model}" ` : ''}is unknown, misspelled or retired: check the id against GET /v1/models (and the region's own catalog for EU).`,
    );
  }
  if (status === 429) {
    const seconds = input.rateLimit.retryAfter ?? input.rateLimit.reset;
    const wait = seconds !== undefined ? `the window resets in ${seconds} s` : 'the 60-second window has not reset yet';
    add(
      'ratelimit.exceeded',
      'error',
      `Rate limited${model ? ` on model "${model}"` : ''}: ${wait}. Back off using X-RateLimit-Remaining/Reset; limits are per model.`,
    );
  }
  if (status !== undefined && status >= 500) {
    const id = input.requestId ? ` with request_id ${input.requestId}` : '';
    add(
      'gateway.server_error',
      'error',
      `The gateway answered ${status}: retry with exponential backoff; if it persists, report it to support@assemblyai.com${id}, the model and the time.`,
    );
  }
  return found;
}

/** `authorisation`, `authorizaton`, `auth`, `x-authorization`, ...: one the gateway will not read. */
function looksLikeAuthorization(name: string): boolean {
  if (/^(x-)?auth(ori[sz]ation|orization|entication)?$/.test(name)) return true;
  return editDistance(name, 'authorization') <= 2;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
