// ESLint flat config: typescript-eslint's type-checked rules over every TypeScript file
// (the project of test/tsconfig.json covers src/, test/, examples/, bench/ and scripts/), the
// plain recommended rules over JavaScript files. Formatting belongs to Prettier (.prettierrc.json).
// bench/ and scripts/soak.ts import the built package (dist/), so `npm run lint` builds first.
//
// typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 does not ship: the
// project builds and lints with TypeScript 6.0.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/', '.ci-out/'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './test/tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An unhandled rejection can end the application's process: every promise is awaited,
      // returned, or explicitly `void`ed.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `Function` accepts anything callable and returns `any`: name the signature.
      '@typescript-eslint/no-unsafe-function-type': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // `import x = require('...')` is TypeScript's typed CommonJS import, not a require() call.
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
    },
  },
  {
    // register loads its optional peers (the SDK, the HTTP instrumentations) and node:http(s)
    // at run time, on purpose: a static import would fail when a peer is not installed.
    files: ['src/register.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The test apps are applications whose telemetry setup runs first: they require the client
    // libraries (openai, ai, langchain, axios, node:http...) afterwards, on purpose, so that the
    // instrumentations registered by then patch them as they load. A static import would load
    // them before any instrumentation exists.
    files: ['test/support/apps/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests, benchmarks and examples read exported telemetry and JSON bodies, which are `any` by
    // nature; the unsafe-any rules guard the package's own code, where they stay on.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    // The instrumentation reports through the OpenTelemetry diag logger, never the console
    // (register's one stderr line when the SDK is missing is written with process.stderr).
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // TypeScript outside the type-checked project: the packaging consumers are type-checked
    // against the installed package by test/packaging.test.ts, not against the sources.
    files: ['**/*.mts', '**/*.cts'],
    extends: [tseslint.configs.recommended],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }] },
  },
);
