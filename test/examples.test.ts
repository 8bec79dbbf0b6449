import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The example apps are what users copy: each must run as documented, against the simulated
// gateway when no key is set, and print the span the instrumentation recorded.

const run = promisify(execFile);
const env = { ...process.env };
for (const key of Object.keys(env)) if (key.startsWith('OTEL_') || key === 'ASSEMBLYAI_API_KEY') delete env[key];

describe.each(['fetch-app.ts', 'openai-app.ts', 'assemblyai-app.ts'])('examples/%s', (app) => {
  it('runs against the simulated gateway and prints a gateway span with its request_id', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', `examples/${app}`], { env, timeout: 60_000 });
    expect(stdout).toContain('calling the simulated gateway');
    expect(stdout).toContain("name: 'chat claude-sonnet-4-6'");
    expect(stdout).toMatch(/'assemblyai\.request_id': '[0-9a-f-]{36}'/);
    expect(stdout).toContain("'gen_ai.provider.name': 'assemblyai'");
  });
});
