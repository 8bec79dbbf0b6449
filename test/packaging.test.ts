import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { runNode } from './support/child';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver';
import { buildPackage, childEnv, REPO_ROOT, type PackageBuild } from './support/package-build';

// The package as users get it: packed with `npm pack`, installed from the tarball into empty
// projects, then used from an ES module app, a CommonJS app and TypeScript. Two projects, as
// the README's Installation section has two install commands: `lean` has the instrumentation
// and @opentelemetry/api alone (an app that brings its own SDK), `register` has what the README
// says to install for the zero-code start.

const PACKAGE = 'opentelemetry-instrumentation-llm-gateway';
/** The budget for `du -sh node_modules` of the lean install. */
const LEAN_INSTALL_MAX_KB = 5 * 1024;
const run = promisify(execFile);

let build: PackageBuild;
let lean: string;
let register: string;
let packedFiles: string[];
let gateway: SimulatedGateway;
let receiver: OtlpReceiver;

/** The packages of the README's zero-code install command (`npm install ... @opentelemetry/sdk-node ...`). */
function readmeRegisterInstall(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const command = readme
    .split('\n')
    .find((line) => line.startsWith(`npm install ${PACKAGE} `) && line.includes('@opentelemetry/sdk-node'));
  if (!command) throw new Error('README.md has no `npm install` command for the register path');
  return command.split(/\s+/).slice(2);
}

/** The version the repository tests with, so the registry is asked only for what the npm cache lacks. */
function testedVersion(name: string): string {
  return (
    JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  ).version;
}

async function installProject(tarball: string, packages: string[]): Promise<string> {
  const project = mkdtempSync(join(tmpdir(), 'llm-gateway-consumer-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const specs = packages.map((name) => (name === PACKAGE ? tarball : `${name}@${testedVersion(name)}`));
  await run('npm', ['install', '--prefer-offline', ...specs], { cwd: project, env: npmEnv() });
  for (const file of ['app.mjs', 'app.cjs', 'consumer.mts', 'consumer.cts']) {
    copyFileSync(join(REPO_ROOT, 'examples', 'packaging', file), join(project, file));
  }
  return project;
}

function npmEnv(): NodeJS.ProcessEnv {
  return childEnv({
    npm_config_loglevel: 'error',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  });
}

function appEnv(service: string): NodeJS.ProcessEnv {
  return childEnv({
    OTEL_SERVICE_NAME: service,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS: `127.0.0.1:${gateway.port}`,
    GATEWAY_URL: gateway.url,
    ASSEMBLYAI_API_KEY: 'sim-secret-key-0123456789',
  });
}

beforeAll(async () => {
  [build, gateway, receiver] = await Promise.all([buildPackage(), startSimulatedGateway(), startOtlpReceiver()]);
  const packDir = mkdtempSync(join(tmpdir(), 'llm-gateway-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', packDir], {
    cwd: build.dir,
    env: npmEnv(),
  });
  const [{ filename, files }] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  packedFiles = files.map((file) => file.path);
  const tarball = join(packDir, filename);
  [lean, register] = await Promise.all([
    installProject(tarball, [PACKAGE, '@opentelemetry/api']),
    installProject(tarball, readmeRegisterInstall()),
  ]);
  rmSync(packDir, { recursive: true, force: true });
}, 180_000);
afterAll(async () => {
  await Promise.all([gateway?.close(), receiver?.close()]);
  build?.remove();
  for (const project of [lean, register]) if (project) rmSync(project, { recursive: true, force: true });
});

it('packs the license, the changelog, the README and both builds, and no sources or tests', () => {
  expect(packedFiles).toEqual(
    expect.arrayContaining([
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'package.json',
      'dist/cjs/index.js',
      'dist/esm/register.mjs',
    ]),
  );
  expect(
    packedFiles.filter((path) => !/^(dist\/|LICENSE$|CHANGELOG\.md$|README\.md$|package\.json$)/.test(path)),
  ).toEqual([]);
});

it('installs in at most 5 MB, without the SDK, for an app that brings its own', async () => {
  const { stdout } = await run('du', ['-sk', 'node_modules'], { cwd: lean });
  expect(Number.parseInt(stdout, 10)).toBeLessThanOrEqual(LEAN_INSTALL_MAX_KB);
  expect(readdirSync(join(lean, 'node_modules', '@opentelemetry')).sort()).toEqual(['api', 'instrumentation']);
});

describe.each([
  { kind: 'An ES module', flag: '--import', app: 'app.mjs' },
  { kind: 'A CommonJS', flag: '--require', app: 'app.cjs' },
])('$kind app from the installed tarball', ({ flag, app }) => {
  it(`exports its gateway calls as spans when started with ${flag} ${PACKAGE}/register`, async () => {
    const service = `packaging-${app}`;
    const result = await runNode([flag, `${PACKAGE}/register`, app], { cwd: register, env: appEnv(service) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { fetchRequestId } = JSON.parse(result.stdout) as { fetchRequestId: string };
    const spansOf = () => receiver.spans.filter((s) => s.resource['service.name'] === service);
    await receiver.waitFor(() => spansOf().filter((s) => s.name === 'chat claude-sonnet-4-6').length === 2);
    const genAi = spansOf().filter((s) => s.name === 'chat claude-sonnet-4-6');
    expect(genAi.map((s) => s.attributes['assemblyai.request_id'])).toContain(fetchRequestId);
    for (const span of genAi) {
      expect(
        spansOf()
          .filter((s) => s.parentSpanId === span.spanId)
          .map((s) => s.name),
      ).toEqual(['POST']);
    }
  });

  it(`runs uninstrumented with ${flag} ${PACKAGE}/register when the SDK is not installed, and says what to install`, async () => {
    const result = await runNode([flag, `${PACKAGE}/register`, app], {
      cwd: lean,
      env: appEnv(`packaging-lean-${app}`),
    });
    expect(result.stderr).toBe(
      `${PACKAGE}/register: @opentelemetry/sdk-node is not installed, so this process runs without telemetry. ` +
        'Install it with: npm install @opentelemetry/sdk-node @opentelemetry/instrumentation-http @opentelemetry/instrumentation-undici\n',
    );
    expect(result.code).toBe(0);
    // The application made both of its calls and printed their ids.
    const ids = JSON.parse(result.stdout) as { fetchRequestId?: unknown; streamResponseId?: unknown };
    expect([typeof ids.fetchRequestId, typeof ids.streamResponseId]).toEqual(['string', 'string']);
  });
});

it('starts register without the optional HTTP instrumentations: gateway spans without HTTP children, and a diag line', async () => {
  // A preload makes the two packages unresolvable, as if they were not installed.
  const hide = join(register, 'hide-http-instrumentations.cjs');
  writeFileSync(
    hide,
    `const Module = require('node:module');
     const resolve = Module._resolveFilename;
     Module._resolveFilename = function (request, ...rest) {
       if (/^@opentelemetry\\/instrumentation-(http|undici)$/.test(request)) {
         throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
       }
       return resolve.call(this, request, ...rest);
     };`,
  );
  const service = 'packaging-no-http-instrumentations';
  const result = await runNode(['--require', hide, '--import', `${PACKAGE}/register`, 'app.mjs'], {
    cwd: register,
    env: { ...appEnv(service), OTEL_LOG_LEVEL: 'info' },
  });
  expect(result.code).toBe(0);
  // DiagConsoleLogger writes info lines with console.info, to stdout: the app's own line is the last.
  const lines = result.stdout.trim().split('\n');
  expect(lines).toContain(
    'llm-gateway register: @opentelemetry/instrumentation-undici and @opentelemetry/instrumentation-http not installed: ' +
      'gateway spans have no HTTP child span (npm install @opentelemetry/instrumentation-undici @opentelemetry/instrumentation-http)',
  );
  const { fetchRequestId } = JSON.parse(lines.at(-1)!) as { fetchRequestId: string };
  const spansOf = () => receiver.spans.filter((s) => s.resource['service.name'] === service);
  await receiver.waitFor(() => spansOf().filter((s) => s.name === 'chat claude-sonnet-4-6').length === 2);
  expect(spansOf().map((s) => s.attributes['assemblyai.request_id'])).toContain(fetchRequestId);
  expect(spansOf().map((s) => s.name)).not.toContain('POST');
});

describe.each([
  { project: 'lean', dir: () => lean },
  { project: 'register', dir: () => register },
])('In the $project install', ({ dir }) => {
  it('gives the instrumentation class to require and import without loading the SDK', async () => {
    // `require.cache` lists every CommonJS module loaded, the SDK's included (the ES module
    // entry re-exports the CommonJS build).
    const probe = `
      console.log(JSON.stringify({
        type: typeof LlmGatewayInstrumentation,
        enabled: new LlmGatewayInstrumentation({ enabled: false }).isEnabled(),
        sdk: Object.keys(require.cache).filter((path) => /sdk-node|exporter-|instrumentation-(http|undici)/.test(path)),
      }));`;
    const commonJs = await runNode(['-e', `const { LlmGatewayInstrumentation } = require('${PACKAGE}');${probe}`], {
      cwd: dir(),
      env: childEnv(),
    });
    const esModule = await runNode(
      [
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module'; import { LlmGatewayInstrumentation } from '${PACKAGE}';
         const require = createRequire(import.meta.url);${probe}`,
      ],
      { cwd: dir(), env: childEnv() },
    );
    for (const result of [commonJs, esModule]) {
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toEqual({ type: 'function', enabled: false, sdk: [] });
    }
  });
});

it('type-checks TypeScript consumers (ES module and CommonJS) against the installed declarations', async () => {
  writeFileSync(
    join(lean, 'tsconfig.json'),
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
  const result = await run(tsc, ['-p', 'tsconfig.json'], { cwd: lean, env: childEnv() }).catch(
    (error: { stdout?: string }) => error,
  );
  expect(result.stdout ?? '').toBe('');
});
