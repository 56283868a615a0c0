/**
 * The parts of prom-client the proxy uses, loaded one file each. prom-client's index also
 * loads its histogram and summary (with tdigest), its push-gateway client (`node:https`,
 * `node:zlib`) and its cluster aggregator, none of which the proxy uses: memory an idle
 * sidecar keeps (issue 24, docs/PERFORMANCE.md "Loading less"). The package has no exports
 * map, so Node resolves these paths; test/unit/metrics/promClient.test.ts checks that each is
 * the class or function the package's index exports, so a release that moves one fails there.
 */
import type * as PromClient from 'prom-client';

/* eslint-disable @typescript-eslint/no-require-imports */
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export const collectDefaultMetrics = require('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics;

type DefaultMetric = (registry: PromClient.Registry, config: PromClient.DefaultMetricsCollectorConfiguration<PromClient.RegistryContentType>) => void;

/**
 * prom-client's default metrics but the named ones, registered as `collectDefaultMetrics`
 * registers them (its `metricsList` names each file under lib/metrics/).
 */
export function collectDefaultMetricsExcept(
  leftOut: readonly string[], config: PromClient.DefaultMetricsCollectorConfiguration<PromClient.RegistryContentType> & { register: PromClient.Registry },
): void {
  const names = (collectDefaultMetrics as unknown as { metricsList: string[] }).metricsList;
  for (const name of names) {
    if (!leftOut.includes(name)) (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(config.register, config);
  }
}
/* eslint-enable @typescript-eslint/no-require-imports */

export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Registry = PromClient.Registry;
