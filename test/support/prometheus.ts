import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { it } from 'vitest';

/** Under CI a missing Prometheus is a failure; on a laptop the Prometheus tests skip with a note. */
export const IN_CI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

export interface Tool {
  name: string;
  /** Absolute path, when installed (or set with the PROMTOOL / PROMETHEUS environment variable). */
  path: string | undefined;
}

export function findTool(name: 'promtool' | 'prometheus'): Tool {
  const override = process.env[name.toUpperCase()];
  const candidates = override
    ? [override]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name));
  const path = candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (path === undefined && !IN_CI) {
    console.warn(
      `[skip] ${name} is not installed: the tests that need it are skipped. Install it with scripts/ensure-prometheus.sh (under CI=true a missing ${name} fails).`,
    );
  }
  return { name, path };
}

/** Under CI, a missing tool is a failing test of its own: a skip would hide it. */
export function failIfMissingInCi(tool: Tool): void {
  if (tool.path !== undefined || !IN_CI) return;
  it(`finds ${tool.name} (required under CI)`, () => {
    throw new Error(`${tool.name} is not installed and CI is set: run scripts/ensure-prometheus.sh`);
  });
}

export interface RunResult {
  code: number;
  output: string;
}

/** Runs a command to completion; never throws on a non-zero exit (the test asserts on `code`). */
export async function run(file: string, args: string[], cwd?: string): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

/** A loopback port that was free a moment ago (for servers that cannot listen on port 0). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
