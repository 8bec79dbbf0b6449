// The Grafana files of the docker-compose demo, read the way Grafana reads them: the dashboard's
// panels and their queries, its template variables, and the provisioned data sources.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ROOT = join(__dirname, '..', '..');
export const GRAFANA_DIR = 'examples/grafana';
export const DASHBOARD_FILE = `${GRAFANA_DIR}/dashboards/llm-gateway.json`;
export const DATASOURCES_FILE = `${GRAFANA_DIR}/provisioning/datasources/datasources.yml`;
export const PROVIDERS_FILE = `${GRAFANA_DIR}/provisioning/dashboards/llm-gateway.yml`;

export interface DatasourceRef {
  type: string;
  uid: string;
}

export interface Target {
  refId: string;
  datasource?: DatasourceRef;
  expr?: string;
  queryType?: string;
  service?: string;
  tags?: string;
  [key: string]: unknown;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: DatasourceRef;
  gridPos: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { links?: { title: string; url: string }[] } };
  targets: Target[];
}

export interface Variable {
  name: string;
  type: 'datasource' | 'query' | 'textbox' | 'custom' | 'constant' | 'interval';
  query: string;
  datasource?: DatasourceRef;
  current?: { value: string | string[] };
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

export interface ProvisionedDatasource {
  name: string;
  type: string;
  uid: string;
  url: string;
  jsonData?: {
    timeInterval?: string;
    tracesToMetrics?: {
      datasourceUid: string;
      tags: { key: string; value: string }[];
      queries: { name: string; query: string }[];
    };
  };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(join(ROOT, DASHBOARD_FILE), 'utf8')) as Dashboard;
}

export function loadDatasources(): ProvisionedDatasource[] {
  return (parse(readFileSync(join(ROOT, DATASOURCES_FILE), 'utf8')) as { datasources: ProvisionedDatasource[] })
    .datasources;
}

/** One PromQL query of a panel: what the test runs, and how the report names it. */
export interface PanelQuery {
  panel: Panel;
  target: Target;
  expr: string;
  /** `Panel title [A]` */
  name: string;
}

export function promQueries(dashboard: Dashboard): PanelQuery[] {
  return dashboard.panels.flatMap((panel) =>
    panel.targets
      .filter((target) => typeof target.expr === 'string')
      .map((target) => ({ panel, target, expr: target.expr!, name: `${panel.title} [${target.refId}]` })),
  );
}

/** Grafana's built-in variables the dashboard may use besides its own. */
const BUILT_INS = new Set(['__rate_interval', '__interval', '__range', '__from', '__to', '__all']);

/** `$name`, `${name}` and `${name:format}` references, built-ins and `__field...` excluded. */
export function variableReferences(text: string): string[] {
  const names = [...text.matchAll(/\$(?:\{([\w.]+)(?::\w+)?\}|(\w+))/g)].map((m) => m[1] ?? m[2]);
  return names.filter((n) => !BUILT_INS.has(n) && !n.startsWith('__'));
}

/**
 * A query as Grafana sends it with every multi-value variable at "All" (`allValue`, `.*` here)
 * and `$__rate_interval` at `rateInterval`; textboxes and datasource variables at their default.
 */
export function substitute(
  expr: string,
  dashboard: Dashboard,
  rateInterval: string,
  values: Record<string, string> = {},
): string {
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  return expr.replace(
    /\$(?:\{([\w.]+)(?::\w+)?\}|(\w+))/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      if (name === '__rate_interval') return rateInterval;
      if (name in values) return values[name];
      const variable = variables.get(name);
      if (!variable) return whole;
      if (variable.includeAll) return variable.allValue ?? '.*';
      const current = variable.current?.value;
      return Array.isArray(current) ? current[0] : (current ?? variable.query);
    },
  );
}

/** `label_values(selector, label)` of a query variable. */
export function labelValuesQuery(variable: Variable): { selector: string; label: string } | undefined {
  const match = /^label_values\((.+),\s*(\w+)\)$/s.exec(variable.query.trim());
  return match ? { selector: match[1].trim(), label: match[2] } : undefined;
}
