import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/**
 * Starts the simulated gateway's CLI in a child process, for measurements where the server
 * must not share the measured process's event loop (on 2 cores: one serves, one calls).
 * Resolves once it listens; stop it with `child.kill()`.
 */
export async function startSimulatedGatewayProcess(
  extraArgs: string[] = [],
): Promise<{ url: string; child: ChildProcess }> {
  const cli = join(__dirname, 'cli.ts');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cli, '--port', '0', '--rate-limit', '1000000000', ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  for await (const chunk of child.stdout) {
    output += chunk;
    const match = /listening on (http:\/\/\S+)/.exec(output);
    if (match) return { url: match[1], child };
  }
  throw new Error(`simulated gateway did not start: ${output}`);
}
