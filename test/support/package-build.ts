import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

export const REPO_ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

/** Environment for child processes: this Node first on PATH, then the project's binaries (tsc). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = [dirname(process.execPath), join(REPO_ROOT, 'node_modules', '.bin'), process.env.PATH].join(':');
  return { ...process.env, PATH: path, ...extra };
}

export interface PackageBuild {
  /** A directory laid out like the repository: package.json, dist/, node_modules (linked). */
  readonly dir: string;
  remove(): void;
}

/**
 * Builds the package from the current sources into a temporary copy of the repository, with
 * the repository's node_modules linked in. Tests use it rather than the working tree's dist/,
 * which may be stale or rebuilt by someone else while they run.
 */
export async function buildPackage(): Promise<PackageBuild> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-gateway-build-'));
  for (const entry of ['package.json', 'tsconfig.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'src', 'scripts']) {
    if (existsSync(join(REPO_ROOT, entry))) cpSync(join(REPO_ROOT, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  await run(process.execPath, ['scripts/build.mjs'], { cwd: dir, env: childEnv() });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
