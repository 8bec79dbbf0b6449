// The client cases of test/clients.test.ts, run by scripts/versions.ts for one client version
// installed in a scratch app: LLM_GATEWAY_MATRIX_CLIENT names the client, LLM_GATEWAY_MATRIX_DIR
// the app, LLM_GATEWAY_MATRIX_VERSION the version it must hold. Not part of `npm test`
// (test/versions/vitest.config.ts runs it).
import { expect, it } from 'vitest';
import { describeClientCases } from '../support/client-cases';
import { installedVersion, loadMatrixClients, MATRIX_CLIENTS, type MatrixClient } from './clients';

const clientName = process.env.LLM_GATEWAY_MATRIX_CLIENT as MatrixClient;
const dir = process.env.LLM_GATEWAY_MATRIX_DIR;
if (!MATRIX_CLIENTS.includes(clientName) || !dir) {
  throw new Error(
    `set LLM_GATEWAY_MATRIX_CLIENT (${MATRIX_CLIENTS.join(', ')}) and LLM_GATEWAY_MATRIX_DIR (see scripts/versions.ts)`,
  );
}
const clients = loadMatrixClients(clientName, dir);

// npm undici's own fetch and request pass no wrapper: only undici's diagnostics channels, which
// the instrumentation reads from Node 24.4 on, show them.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const wireObservation = major > 24 || (major === 24 && minor >= 4);
const skipReason =
  clientName === 'undici' && !wireObservation
    ? `npm undici is observed from Node 24.4 on; this is Node ${process.versions.node}`
    : undefined;

it.skipIf(skipReason !== undefined)("runs the client version of the scratch app, not the project's own", () => {
  const { path, version } = installedVersion(clientName, dir);
  expect(path.startsWith(dir)).toBe(true);
  expect(version).toBe(process.env.LLM_GATEWAY_MATRIX_VERSION);
});

// A call the instrumentation does not see must fail fast: 3 s is ample for a loopback call.
describeClientCases(clients, { spanWaitMs: 3000, skipReason });
