import { describe, expect, it } from 'vitest';
import { ERROR_CODE_BY_STATUS, errorCodeForStatus, parseErrorEnvelope } from '../../src/parse/errors';
import { MAX_ERROR_MESSAGE_LENGTH } from '../../src/parse/limits';
import { responseInfoFromObject } from '../../src/parse/response';

/** The status table of reference/api-errors.txt, copied verbatim. */
const API_ERRORS: Array<[number, string]> = [
  [400, 'invalid_request'],
  [401, 'unauthorized'],
  [403, 'forbidden'],
  [404, 'not_found'],
  [409, 'conflict'],
  [413, 'payload_too_large'],
  [415, 'unsupported_media_type'],
  [422, 'unprocessable'],
  [429, 'rate_limited'],
  [500, 'internal_error'],
  [502, 'bad_gateway'],
  [503, 'upstream_unavailable'],
  [504, 'timeout'],
];

describe('parseErrorEnvelope', () => {
  it('reads code, message and param from the seed envelope {error:{code,message,param,request_id}}', () => {
    const body = {
      error: {
        code: 'rate_limited',
        message: 'Per-key rate limit exceeded.',
        param: 'model',
        request_id: 'req_01HZQ7K8YV9X3R2M5N6P7QABCD',
      },
    };
    expect(parseErrorEnvelope(body)).toEqual({
      code: 'rate_limited',
      message: 'Per-key rate limit exceeded.',
      param: 'model',
    });
    const info = responseInfoFromObject(body);
    expect(info.requestId).toBe('req_01HZQ7K8YV9X3R2M5N6P7QABCD');
    expect(info.error).toEqual({ code: 'rate_limited', message: 'Per-key rate limit exceeded.', param: 'model' });
  });

  it('joins metadata.errors into the message of the flat post-auth envelope, with no string code', () => {
    const body = {
      metadata: {
        errors: [
          'model qwen3.5-4b-32k-fast does not support tools',
          'model qwen3.5-4b-32k-fast does not support tool_choice',
        ],
      },
      request_id: '93f7c0de-0000-4000-8000-000000000001',
      message: 'invalid request body',
      code: 400,
    };
    const error = parseErrorEnvelope(body);
    expect(error?.code).toBeUndefined();
    expect(error?.param).toBeUndefined();
    expect(error?.message).toBe(
      'invalid request body: model qwen3.5-4b-32k-fast does not support tools; model qwen3.5-4b-32k-fast does not support tool_choice',
    );
    const info = responseInfoFromObject(body);
    expect(info.requestId).toBe('93f7c0de-0000-4000-8000-000000000001');
    expect(info.error?.message).toBe(error?.message);
  });

  it('reads the message of a flat envelope without metadata (404 transcript not found, 429)', () => {
    expect(parseErrorEnvelope({ request_id: 'r', message: 'transcript not found', code: 404 })).toEqual({
      message: 'transcript not found',
    });
    const info = responseInfoFromObject({ request_id: 'r2', message: 'too many requests for this action', code: 429 });
    expect(info.requestId).toBe('r2');
    expect(info.error?.message).toBe('too many requests for this action');
  });

  it('skips empty and non-string metadata.errors entries', () => {
    const error = parseErrorEnvelope({
      metadata: { errors: ['', 3, null, 'model x is not supported'] },
      message: 'invalid request body',
      code: 400,
    });
    expect(error?.message).toBe('invalid request body: model x is not supported');
  });

  it('uses the message of the pre-auth envelope {error:"...",status:"error",request_id}', () => {
    const body = { error: 'Authentication error, API token missing/invalid', status: 'error', request_id: 'abc-123' };
    expect(parseErrorEnvelope(body)).toEqual({ message: 'Authentication error, API token missing/invalid' });
    const info = responseInfoFromObject(body);
    expect(info.requestId).toBe('abc-123');
    expect(info.error?.code).toBeUndefined();
    expect(info.error?.message).toBe('Authentication error, API token missing/invalid');
  });

  it('gives no string code for the documented envelope {error:{code:400,message,metadata:{}}}', () => {
    const body = { error: { code: 400, message: "Invalid request: missing required field 'model'", metadata: {} } };
    expect(parseErrorEnvelope(body)).toEqual({ message: "Invalid request: missing required field 'model'" });
    expect(responseInfoFromObject(body).error).toEqual({ message: "Invalid request: missing required field 'model'" });
  });

  it('reads metadata.errors nested under error in the documented envelope', () => {
    const body = {
      error: {
        code: 400,
        message: 'invalid request body',
        metadata: { errors: ['one of messages or prompt required'] },
      },
    };
    expect(parseErrorEnvelope(body)?.message).toBe('invalid request body: one of messages or prompt required');
  });

  it('does not repeat a message that is also one of the metadata errors', () => {
    const error = parseErrorEnvelope({
      message: 'model x is not supported',
      metadata: { errors: ['model x is not supported'] },
    });
    expect(error?.message).toBe('model x is not supported');
  });

  it('returns undefined for a success body', () => {
    const success = {
      request: { model: 'qwen3.5-4b-32k-fast', max_tokens: 60 },
      request_id: '93f7',
      model: 'qwen3.5-4b-32k-fast',
      choices: [{ message: { role: 'assistant', content: 'The capital of France is Paris.' }, finish_reason: 'stop' }],
      usage: { input_tokens: 24, output_tokens: 8, total_tokens: 32 },
      http_status_code: 200,
    };
    expect(parseErrorEnvelope(success)).toBeUndefined();
    expect(responseInfoFromObject(success).error).toBeUndefined();
    expect(parseErrorEnvelope({})).toBeUndefined();
    expect(parseErrorEnvelope({ error: null })).toBeUndefined();
    expect(parseErrorEnvelope({ error: {} })).toBeUndefined();
  });

  it('bounds the message length, whatever envelope carries it', () => {
    const long = 'x'.repeat(10_000);
    for (const body of [
      { error: { code: 'internal_error', message: long } },
      { error: long, status: 'error' },
      { message: long, code: 500 },
      {
        message: 'invalid request body',
        metadata: { errors: Array.from({ length: 200 }, (_, i) => `reason number ${i}`) },
      },
      { message: long, metadata: { errors: [long, long] } },
    ]) {
      const message = parseErrorEnvelope(body)?.message;
      expect(message).toBeDefined();
      expect(message!.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_LENGTH);
    }
  });

  it('bounds code and param lengths', () => {
    const error = parseErrorEnvelope({ error: { code: 'c'.repeat(1000), message: 'm', param: 'p'.repeat(1000) } });
    expect(error!.code!.length).toBeLessThanOrEqual(64);
    expect(error!.param!.length).toBeLessThanOrEqual(128);
  });
});

describe('errorCodeForStatus', () => {
  it.each(API_ERRORS)('maps %i to %s as in api-errors.txt', (status, code) => {
    expect(errorCodeForStatus(status)).toBe(code);
  });

  it('has exactly the statuses of api-errors.txt', () => {
    expect(Object.entries(ERROR_CODE_BY_STATUS).map(([s, c]) => [Number(s), c])).toEqual(API_ERRORS);
  });

  it('gives an unknown status as its number', () => {
    expect(errorCodeForStatus(418)).toBe('418');
    expect(errorCodeForStatus(599)).toBe('599');
    expect(errorCodeForStatus(405)).toBe('405');
  });
});
