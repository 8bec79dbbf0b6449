// Kept equal to package.json by scripts/build.mjs (a test checks it).
export const PACKAGE_NAME = 'opentelemetry-instrumentation-llm-gateway';
export const PACKAGE_VERSION = '0.1.0';
