import type { DiagLogger } from '@opentelemetry/api';

/**
 * The one way this instrumentation runs its own code where a throw would reach the application:
 * diagnostics-channel subscribers (a subscriber that throws is an uncaught exception in the
 * application), wrappers inside the application's calls, telemetry steps and user hooks.
 * A failure goes to the diag logger, never to the caller; the result is then `undefined`.
 */
export function guard<T>(diag: DiagLogger, what: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    diag.error(`llm-gateway: ${what}`, error);
    return undefined;
  }
}

/** `fn`, guarded once where it is handed over (a channel subscriber, a listener). */
export function guarded<T>(diag: DiagLogger, what: string, fn: (message: T) => void): (message: T) => void {
  return (message: T) => {
    try {
      fn(message);
    } catch (error) {
      diag.error(`llm-gateway: ${what}`, error);
    }
  };
}
