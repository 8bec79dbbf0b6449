/**
 * Runs the simulated LLM Gateway from the command line:
 *
 *   node --import tsx examples/simulated-gateway/cli.ts [--port 8787] [--host 127.0.0.1]
 *     [--rate-limit 30] [--window-seconds 60] [--latency-ms 0] [--chunk-delay-ms 0]
 *     [--region us|eu] [--allow-non-loopback]
 */
import { parseArgs } from 'node:util';
import { isLoopbackHost, startSimulatedGateway } from './server';

const USAGE = `usage: cli.ts [--port 8787] [--host 127.0.0.1] [--rate-limit 30] [--window-seconds 60]
              [--latency-ms 0] [--chunk-delay-ms 0] [--region us|eu] [--allow-non-loopback]`;

function numberOption(name: string, value: string, min: number): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min) throw new Error(`--${name} must be a number >= ${min}, got ${value}`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      'rate-limit': { type: 'string', default: '30' },
      'window-seconds': { type: 'string', default: '60' },
      'latency-ms': { type: 'string', default: '0' },
      'chunk-delay-ms': { type: 'string', default: '0' },
      region: { type: 'string', default: 'us' },
      'allow-non-loopback': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.region !== 'us' && values.region !== 'eu')
    throw new Error(`--region must be us or eu, got ${values.region}`);
  // Binding 0.0.0.0 is for a container only: the simulator accepts any key, so keep it off real networks.
  if (!isLoopbackHost(values.host) && !values['allow-non-loopback']) {
    throw new Error(`refusing non-loopback --host ${values.host}; pass --allow-non-loopback (e.g. inside a container)`);
  }

  const gateway = await startSimulatedGateway({
    port: numberOption('port', values.port, 0),
    host: values.host,
    allowNonLoopback: values['allow-non-loopback'],
    rateLimit: numberOption('rate-limit', values['rate-limit'], 0),
    windowSeconds: numberOption('window-seconds', values['window-seconds'], 0.001),
    latencyMs: numberOption('latency-ms', values['latency-ms'], 0),
    chunkDelayMs: numberOption('chunk-delay-ms', values['chunk-delay-ms'], 0),
  });
  console.log(`simulated LLM Gateway listening on ${gateway.url} (region ${values.region})`);

  const stop = () => {
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`simulated gateway: ${error instanceof Error ? error.message : String(error)}`);
  console.error(USAGE);
  process.exit(2);
});
