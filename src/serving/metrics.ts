/**
 * Prometheus metrics of the prediction service, per model and version: requests, refusals by
 * reason, latency, instances, batch sizes, and the prediction log's queue depth. Registered into
 * the app's registry, so they appear on its `/metrics`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PredictionObserver } from './predictor.js';
import type { ServedVersion } from './served-version.js';

export class ServingMetrics implements PredictionObserver {
  private readonly requests: Counter<'model' | 'version'>;
  private readonly instances: Counter<'model' | 'version'>;
  private readonly errors: Counter<'model' | 'version' | 'reason'>;
  private readonly latency: Histogram<'model' | 'version'>;
  private readonly batches: Histogram<'model' | 'version'>;
  private readonly byVersion = new WeakMap<
    ServedVersion,
    { requests: ReturnType<Counter['labels']>; instances: ReturnType<Counter['labels']>; latency: ReturnType<Histogram['labels']>; batches: ReturnType<Histogram['labels']> }
  >();

  constructor(registry: Registry, queueDepth: () => number) {
    const registers = [registry];
    this.requests = new Counter({ name: 'cairn_predict_requests_total', help: 'Prediction requests answered, by model and version', labelNames: ['model', 'version'], registers });
    this.instances = new Counter({ name: 'cairn_predict_instances_total', help: 'Predictions made (instances), by model and version', labelNames: ['model', 'version'], registers });
    this.errors = new Counter({
      name: 'cairn_predict_errors_total',
      help: 'Prediction requests refused or failed, by model, version (empty when unresolved) and reason',
      labelNames: ['model', 'version', 'reason'],
      registers,
    });
    this.latency = new Histogram({
      name: 'cairn_predict_latency_seconds',
      help: 'Time from a request being read to its predictions being ready, by model and version',
      labelNames: ['model', 'version'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.batches = new Histogram({
      name: 'cairn_predict_batch_rows',
      help: 'Rows per model run after micro-batching, by model and version',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers,
    });
    new Gauge({
      name: 'cairn_prediction_log_queue_depth',
      help: 'Prediction records waiting to be written to the prediction log',
      registers,
      collect() {
        this.set(queueDepth());
      },
    });
  }

  served(served: ServedVersion, instances: number, seconds: number): void {
    const c = this.children(served);
    c.requests.inc();
    c.instances.inc(instances);
    c.latency.observe(seconds);
  }

  refused(model: string, version: number | null, reason: string): void {
    this.errors.inc({ model, version: version === null ? '' : String(version), reason });
  }

  batch(served: ServedVersion, rows: number): void {
    this.children(served).batches.observe(rows);
  }

  /** The labelled series of a version, built once: label hashing per request adds up at 10k/s. */
  private children(served: ServedVersion) {
    let c = this.byVersion.get(served);
    if (!c) {
      const labels = [served.model, String(served.version)];
      c = {
        requests: this.requests.labels(...labels),
        instances: this.instances.labels(...labels),
        latency: this.latency.labels(...labels),
        batches: this.batches.labels(...labels),
      };
      this.byVersion.set(served, c);
    }
    return c;
  }
}
