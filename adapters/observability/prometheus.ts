/**
 * An OpenTelemetry SDK meter provider whose only reader is a Prometheus exporter that starts no
 * server of its own: the status server serves its handler at /metrics. Used by the CLI and by
 * `statusPort`; a host with its own SDK keeps its own provider (both are then fed).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

export interface PrometheusMetrics {
  readonly meterProvider: MeterProvider;
  /** Answers a scrape with the text exposition of every instrument of `meterProvider`. */
  handle(request: IncomingMessage, response: ServerResponse): void;
  shutdown(): Promise<void>;
}

export function createPrometheusMetrics(): PrometheusMetrics {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  return {
    meterProvider,
    handle: (request, response) => exporter.getMetricsRequestHandler(request, response),
    shutdown: () => meterProvider.shutdown(),
  };
}
