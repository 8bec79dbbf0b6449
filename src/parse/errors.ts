import { MAX_ERROR_MESSAGE_LENGTH } from './limits';
import type { GatewayErrorInfo } from './types';
import { isRecord, shortString } from './values';

/** The gateway's error codes by HTTP status (reference: api-errors.txt). */
export const ERROR_CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'bad_gateway',
  503: 'upstream_unavailable',
  504: 'timeout',
};

/** The error code for a status with no string code in the body: the table, else the status. */
export function errorCodeForStatus(status: number): string {
  return ERROR_CODE_BY_STATUS[status] ?? String(status);
}

/**
 * Reads an error from any of the envelopes the gateway is known to send:
 * - seed / documented: `{ error: { code, message, param?, request_id? , metadata? } }`
 * - flat (post-auth):   `{ code: 400, message, request_id, metadata: { errors: [...] } }`
 * - pre-auth:           `{ error: "Authentication error, ...", status: "error", request_id }`
 * Returns undefined when the body is not an error body.
 */
export function parseErrorEnvelope(body: Record<string, unknown>): GatewayErrorInfo | undefined {
  const nested = isRecord(body.error) ? body.error : undefined;
  const code = shortString(nested?.code, 64) ?? shortString(body.code, 64);
  const baseMessage =
    shortString(body.message, MAX_ERROR_MESSAGE_LENGTH) ??
    shortString(body.error, MAX_ERROR_MESSAGE_LENGTH) ??
    shortString(nested?.message, MAX_ERROR_MESSAGE_LENGTH);
  const details = detailMessages(nested?.metadata) ?? detailMessages(body.metadata);
  const param = shortString(nested?.param, 128) ?? shortString(body.param, 128);
  const message = joinMessage(baseMessage, details);
  if (code === undefined && message === undefined && param === undefined) return undefined;
  return { code, message, param };
}

/** `metadata.errors` holds the specific reasons behind a generic "invalid request body". */
function detailMessages(metadata: unknown): string[] | undefined {
  if (!isRecord(metadata) || !Array.isArray(metadata.errors)) return undefined;
  const errors = metadata.errors.filter((e): e is string => typeof e === 'string' && e.length > 0);
  return errors.length > 0 ? errors : undefined;
}

function joinMessage(base: string | undefined, details: string[] | undefined): string | undefined {
  if (!details) return base;
  const joined = details.join('; ');
  const message = base && !details.includes(base) ? `${base}: ${joined}` : joined;
  return message.length > MAX_ERROR_MESSAGE_LENGTH ? message.slice(0, MAX_ERROR_MESSAGE_LENGTH) : message;
}
