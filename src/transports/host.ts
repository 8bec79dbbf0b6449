import type { Context, DiagLogger } from '@opentelemetry/api';
import type { CallStart, GatewayCall } from '../call';

/** What a transport needs from the instrumentation: the host check and a way to start a call. */
export interface TransportHost {
  readonly diag: DiagLogger;
  /** Message content capture is on: request bodies are read for their messages too. */
  readonly captureMessageContent: boolean;
  /** The cheap host check: the region of a gateway authority (`host[:port]`), else undefined. */
  regionOf(authority: string): string | undefined;
  /** Starts a call whose span is a child of `parent` (default: the active context). */
  startCall(start: CallStart, parent?: Context): GatewayCall;
}
