import type { RequestHeaders } from '../src/facts';
import { callFacts } from './support/facts';
import { describe, expect, it } from 'vitest';
import { formatInputMessages } from '../src/content';
import { resolveConfig } from '../src/config';
import { diagnose } from '../src/diagnostics';
import { authorityOfUrl, gatewayRegion, operationOf, redactUrl } from '../src/gateway';
import { JsonBodyObserver } from '../src/parse/json-body';

describe('gateway hosts', () => {
  const config = resolveConfig(
    { hosts: [{ host: 'llm-proxy.internal:443', region: 'EU' }, { host: '127.0.0.1:8787' }] },
    {
      OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS: 'other.example:9000=us, http://with-scheme.example:8080/v1',
    },
  );

  it('recognises the two official hosts with their regions, on any port', () => {
    expect(gatewayRegion(config, authorityOfUrl('https://llm-gateway.assemblyai.com/v1/chat/completions')!)).toBe('us');
    expect(gatewayRegion(config, authorityOfUrl('https://LLM-GATEWAY.EU.assemblyai.com:443/v1/models')!)).toBe('eu');
    expect(gatewayRegion(config, authorityOfUrl('https://user:pw@llm-gateway.assemblyai.com/x')!)).toBe('us');
  });

  it('matches a configured host written with its default port, as URLs drop it', () => {
    expect(gatewayRegion(config, new URL('https://llm-proxy.internal/v1').host)).toBe('eu');
    expect(gatewayRegion(config, authorityOfUrl('https://llm-proxy.internal:443/v1')!)).toBe('eu');
  });

  it('reads extra hosts from the environment, with or without a scheme', () => {
    expect(gatewayRegion(config, 'other.example:9000')).toBe('us');
    expect(gatewayRegion(config, 'with-scheme.example:8080')).toBe('us');
    expect(gatewayRegion(config, '127.0.0.1:8787')).toBe('us');
  });

  it('does not match other hosts, ports or look-alikes', () => {
    for (const url of [
      'https://example.com/v1',
      'http://127.0.0.1:8788/v1',
      'https://llm-gateway.assemblyai.com.evil.example/v1',
      'not a url',
    ]) {
      const authority = authorityOfUrl(url);
      expect(authority === undefined ? undefined : gatewayRegion(config, authority), url).toBeUndefined();
    }
  });

  it('names the operation from the path', () => {
    expect(operationOf('POST', '/v1/chat/completions')).toBe('chat');
    expect(operationOf('POST', '/proxy/v1/chat/completions/')).toBe('chat');
    expect(operationOf('POST', '/v1/understanding/validate')).toBe('understanding');
    expect(operationOf('GET', '/v1/models')).toBe('list_models');
    expect(operationOf('GET', '/v1/other')).toBe('other');
  });

  it('redacts userinfo and every query value from url.full', () => {
    expect(redactUrl(new URL('https://u:p@h.example/v1/x?api_key=s&y=2#frag'))).toBe(
      'https://REDACTED:REDACTED@h.example/v1/x?api_key=REDACTED&y=REDACTED',
    );
  });
});

describe('diagnostics from headers', () => {
  const headers = (h: Record<string, string>): RequestHeaders => ({ names: () => Object.keys(h), get: (n) => h[n] });
  const base = callFacts();

  it('does not call a header misspelled when a real Authorization header is also sent', () => {
    expect(diagnose({ ...base, requestHeaders: headers({ authorization: 'k', 'x-auth': 'other' }) })).toEqual([]);
  });

  it('never puts a header value into a diagnostic', () => {
    const found = diagnose({
      ...base,
      requestHeaders: headers({ Authorisation: 'Bearer sk-secret-value' }),
      status: 401,
    });
    expect(found.map((d) => d.id)).toEqual(['auth.header_misspelled']);
    expect(JSON.stringify(found)).not.toContain('sk-secret-value');
  });
});

describe('bounds', () => {
  it('caps gen_ai.input.messages however many messages there are', () => {
    const messages = Array.from({ length: 30_000 }, (_, i) => ({ role: 'user', content: `m${i}` }));
    let calls = 0;
    const json = formatInputMessages(messages, (c) => {
      calls++;
      return c;
    })!;
    expect(json.length).toBeLessThan(20_000);
    expect(calls).toBeLessThan(1000);
    expect(JSON.parse(json)[0]).toEqual({ role: 'user', parts: [{ type: 'text', content: 'm0' }] });
  });

  it('keeps a bounded copy of a JSON body handed over as one huge chunk', () => {
    const observer = new JsonBodyObserver();
    const huge = new TextEncoder().encode(
      `{"request_id":"r1","model":"m","content":"${'x'.repeat(20_000_000)}","usage":{"input_tokens":3,"output_tokens":4}}`,
    );
    observer.write(huge);
    const retained =
      (observer as unknown as { head: Uint8Array }).head.byteLength +
      (observer as unknown as { tail: Uint8Array }).tail.byteLength;
    expect(retained).toBeLessThanOrEqual(64 * 1024);
    expect(observer.finish()).toMatchObject({ requestId: 'r1', inputTokens: 3, outputTokens: 4 });
  });
});
