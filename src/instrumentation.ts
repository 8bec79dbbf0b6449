import type { Context } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { GatewayCall, type CallEnvironment, type CallStart } from './call';
import { resolveConfig, type ResolvedConfig } from './config';
import type { LlmGatewayInstrumentationConfig } from './types';
import { gatewayRegion } from './gateway';
import { GatewayMetrics } from './metrics';
import { installFetchTransport } from './transports/fetch';
import type { TransportHost } from './transports/host';
import { installHttpTransport, noteHttpModuleLoaded } from './transports/http';
import { installUndiciTransport } from './transports/undici';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version';

/**
 * OpenTelemetry instrumentation for the AssemblyAI LLM Gateway. Every request to a gateway
 * host becomes a GenAI CLIENT span and a set of metric points; every other request pays
 * one host lookup.
 */
export class LlmGatewayInstrumentation extends InstrumentationBase<LlmGatewayInstrumentationConfig> {
  // `declare`: the base constructor calls setConfig(), _updateMetricInstruments() and
  // enable() before subclass fields would be initialised, and an initialiser would reset them.
  declare private resolved: ResolvedConfig;
  declare private metrics: GatewayMetrics;
  declare private uninstallFetch: (() => void) | undefined;
  declare private uninstallHttp: (() => void) | undefined;
  declare private uninstallUndici: (() => void) | undefined;

  constructor(config: LlmGatewayInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  override setConfig(config: LlmGatewayInstrumentationConfig = {}): void {
    super.setConfig(config);
    this.resolved = resolveConfig(this._config);
  }

  protected override init(): InstrumentationNodeModuleDefinition[] {
    // No module patching: fetch is a global, and node:http is observed through diagnostics
    // channels. Loading node:http(s) is when other instrumentations wrap http.request; the
    // http transport then keeps its own wrapper above theirs, so gateway spans parent theirs.
    return ['http', 'https'].map(
      (name) =>
        new InstrumentationNodeModuleDefinition(name, ['*'], (moduleExports: unknown) => {
          noteHttpModuleLoaded(moduleExports);
          return moduleExports;
        }),
    );
  }

  protected override _updateMetricInstruments(): void {
    this.metrics = new GatewayMetrics(this.meter, this.resolved.genAiSemconv);
  }

  override enable(): void {
    if (this._enabled) return;
    super.enable();
    const environment = this.callEnvironment();
    // Getters, so calls see the configuration as it is now (setConfig() may change it).
    const host = Object.defineProperty(
      {
        diag: this._diag,
        regionOf: (authority: string) => gatewayRegion(this.resolved, authority),
        startCall: (start: CallStart, parent?: Context) => new GatewayCall(environment, start, parent),
      },
      'captureMessageContent',
      { get: () => this.resolved.captureMessageContent, enumerable: true },
    ) as TransportHost;
    this.uninstallUndici = installUndiciTransport(host);
    this.uninstallFetch = installFetchTransport(host);
    this.uninstallHttp = installHttpTransport(host);
  }

  override disable(): void {
    if (!this._enabled) return;
    super.disable();
    this.uninstallFetch?.();
    this.uninstallFetch = undefined;
    this.uninstallHttp?.();
    this.uninstallHttp = undefined;
    this.uninstallUndici?.();
    this.uninstallUndici = undefined;
  }

  /** Getters, so calls see a tracer/meter provider set after enable() and config changes. */
  private callEnvironment(): CallEnvironment {
    return Object.defineProperties({ diag: this._diag } as CallEnvironment, {
      tracer: { get: () => this.tracer, enumerable: true },
      metrics: { get: () => this.metrics, enumerable: true },
      config: { get: () => this.resolved, enumerable: true },
      logger: { get: () => this.logger, enumerable: true },
    });
  }
}
