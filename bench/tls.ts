// A throw-away certificate for 127.0.0.1 and localhost, made with openssl for each run. The
// client trusts it through NODE_EXTRA_CA_CERTS (read by Node at start-up, so the measuring
// processes are started with it): certificate verification is never turned off.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Certificate {
  cert: string;
  key: string;
}

export function makeCertificate(dir: string): Certificate {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    // P-256, as most public HTTPS endpoints serve; keep-alive makes the handshake a one-off anyway.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new Error(
      `could not make a TLS certificate with openssl (${(error as Error).message.split('\n')[0]}); install openssl, or run without TLS workloads: BENCH_TLS=0`,
      { cause: error },
    );
  }
  return { cert, key };
}
