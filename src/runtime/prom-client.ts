/**
 * The parts of prom-client the processes use, imported from its modules rather than its index.
 *
 * The index also requires its Pushgateway client (node:http, node:https, node:zlib), its cluster
 * aggregator and its Summary (tdigest), which no process uses; node:https alone loads node:tls and
 * node:crypto. Measured on the idle sidecar as injected (`npm run bench:sidecar -- --only-start`
 * setup): importing the index costs node:https, node:tls, node:crypto and node:zlib, ~7 MB of RSS
 * when nothing else loads them (see the commit that added this module).
 *
 * @module
 */
import type * as Prom from 'prom-client';
import CounterClass from 'prom-client/lib/counter.js';
import collect from 'prom-client/lib/defaultMetrics.js';
import GaugeClass from 'prom-client/lib/gauge.js';
import HistogramClass from 'prom-client/lib/histogram.js';
import RegistryClass from 'prom-client/lib/registry.js';

/** prom-client's `Registry`. */
export const Registry = RegistryClass;
export type Registry = Prom.Registry;
/** prom-client's `Counter`. */
export const Counter = CounterClass;
export type Counter<T extends string = string> = Prom.Counter<T>;
/** prom-client's `Gauge`. */
export const Gauge = GaugeClass;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
/** prom-client's `Histogram`. */
export const Histogram = HistogramClass;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
/** prom-client's `collectDefaultMetrics`. */
export const collectDefaultMetrics = collect;
