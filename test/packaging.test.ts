import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { runNode } from './support/child';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver';
import { buildPackage, childEnv, REPO_ROOT, type PackageBuild } from './support/package-build';

// The package as users get it: packed with `npm pack`, installed from the tarball into an empty
// project, then used from an ES module app, a CommonJS app and TypeScript.

const PACKAGE = 'opentelemetry-instrumentation-llm-gateway';
const run = promisify(execFile);

let build: PackageBuild;
let project: string;
let gateway: SimulatedGateway;
let receiver: OtlpReceiver;

beforeAll(async () => {
  [build, gateway, receiver] = await Promise.all([buildPackage(), startSimulatedGateway(), startOtlpReceiver()]);
  project = mkdtempSync(join(tmpdir(), 'llm-gateway-consumer-'));
  const env = childEnv({ npm_config_loglevel: 'error', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', project], { cwd: build.dir, env });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const apiVersion = (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@opentelemetry/api/package.json'), 'utf8')) as { version: string }).version;
  // The registry is only asked for what the npm cache does not already hold.
  await run('npm', ['install', '--prefer-offline', join(project, filename), `@opentelemetry/api@${apiVersion}`], { cwd: project, env });
  for (const file of ['app.mjs', 'app.cjs', 'consumer.mts', 'consumer.cts']) {
    copyFileSync(join(REPO_ROOT, 'examples', 'packaging', file), join(project, file));
  }
}, 120_000);
afterAll(async () => {
  await Promise.all([gateway?.close(), receiver?.close()]);
  build?.remove();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe.each([
  { kind: 'An ES module', flag: '--import', app: 'app.mjs' },
  { kind: 'A CommonJS', flag: '--require', app: 'app.cjs' },
])('$kind app from the installed tarball', ({ flag, app }) => {
  it(`exports its gateway calls as spans when started with ${flag} ${PACKAGE}/register`, async () => {
    const service = `packaging-${app}`;
    const result = await runNode([flag, `${PACKAGE}/register`, app], {
      cwd: project,
      env: childEnv({
        OTEL_SERVICE_NAME: service,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS: `127.0.0.1:${gateway.port}`,
        GATEWAY_URL: gateway.url,
        ASSEMBLYAI_API_KEY: 'sim-secret-key-0123456789',
      }),
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { fetchRequestId } = JSON.parse(result.stdout) as { fetchRequestId: string };
    const spansOf = () => receiver.spans.filter((s) => s.resource['service.name'] === service);
    await receiver.waitFor(() => spansOf().filter((s) => s.name === 'chat claude-sonnet-4-6').length === 2);
    const genAi = spansOf().filter((s) => s.name === 'chat claude-sonnet-4-6');
    expect(genAi.map((s) => s.attributes['assemblyai.request_id'])).toContain(fetchRequestId);
    for (const span of genAi) {
      expect(spansOf().filter((s) => s.parentSpanId === span.spanId).map((s) => s.name)).toEqual(['POST']);
    }
  });
});

it('gives the instrumentation class to require and import without loading the SDK', async () => {
  // `require.cache` lists every CommonJS module loaded, the SDK's included (the ES module
  // entry re-exports the CommonJS build).
  const probe = `
    console.log(JSON.stringify({
      type: typeof LlmGatewayInstrumentation,
      enabled: new LlmGatewayInstrumentation({ enabled: false }).isEnabled(),
      sdk: Object.keys(require.cache).filter((path) => /sdk-node|exporter-|instrumentation-(http|undici)/.test(path)),
    }));`;
  const commonJs = await runNode(['-e', `const { LlmGatewayInstrumentation } = require('${PACKAGE}');${probe}`], { cwd: project, env: childEnv() });
  const esModule = await runNode(
    [
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module'; import { LlmGatewayInstrumentation } from '${PACKAGE}';
       const require = createRequire(import.meta.url);${probe}`,
    ],
    { cwd: project, env: childEnv() },
  );
  for (const result of [commonJs, esModule]) {
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ type: 'function', enabled: false, sdk: [] });
  }
});

it('type-checks TypeScript consumers (ES module and CommonJS) against the installed declarations', async () => {
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
      },
      files: ['consumer.mts', 'consumer.cts'],
    }),
  );
  const tsc = join(REPO_ROOT, 'node_modules', '.bin', 'tsc');
  const result = await run(tsc, ['-p', 'tsconfig.json'], { cwd: project, env: childEnv() }).catch((error: { stdout?: string }) => error);
  expect((result as { stdout?: string }).stdout ?? '').toBe('');
});
