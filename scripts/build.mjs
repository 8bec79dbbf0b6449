// Builds dist/: the CommonJS build with declarations (tsc), and an ES module entry that
// re-exports it, so `import` and `require` share one copy of the instrumentation (two copies
// would wrap fetch twice).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const versionSource = readFileSync(join(root, 'src/version.ts'), 'utf8');
if (!versionSource.includes(`PACKAGE_VERSION = '${pkg.version}'`)) {
  throw new Error(`src/version.ts does not match package.json version ${pkg.version}`);
}

rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync('tsc', ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });

const require = createRequire(import.meta.url);
mkdirSync(join(root, 'dist/esm'), { recursive: true });
for (const entry of ['index']) {
  const names = Object.keys(require(join(root, `dist/cjs/${entry}.js`))).filter((n) => n !== '__esModule');
  const lines = [`import cjs from '../cjs/${entry}.js';`, ...names.map((n) => `export const ${n} = cjs.${n};`), ''];
  writeFileSync(join(root, `dist/esm/${entry}.mjs`), lines.join('\n'));
}
// `--import .../register` runs the CommonJS entry, so the SDK and the instrumentation it
// starts are the same copies a `require` of the package gets. (Not required here: it starts the SDK.)
writeFileSync(join(root, 'dist/esm/register.mjs'), "import '../cjs/register.js';\n");
console.log('built dist/cjs and dist/esm');
