/**
 * backend "ditto": the worker pool's Prometheus gauges, read from one pool status per scrape (shared by all of
 * them): reachability, workers by device and state, restarts, whether the model loaded anywhere, and each
 * worker's start-up self-test figures (setup, first frame, per-window compute), labelled by worker and device
 * (CUDA index, GPU-/MIG- UUID) so several GPUs and MIG instances show apart.
 */
import { Gauge, type Registry } from 'prom-client';
import type { WorkerState } from './pool-client.js';
import type { DittoWorkerPool } from './worker-pool.js';

const WORKER_STATES: readonly WorkerState[] = ['loading', 'idle', 'reserved', 'busy', 'down'];
const WARMUP_FIGURES = [
  ['setup_ms', 'ditto_worker_setup_seconds', "setup() of the worker's self-test portrait"],
  ['first_frame_ms', 'ditto_worker_first_frame_seconds', "the self-test's first window of silence to its first frame (compute only)"],
  ['window_ms', 'ditto_worker_window_compute_seconds', 'per-window compute measured by the self-test (feed to first frame, worst case)'],
] as const;

export function registerPoolGauges(registry: Registry, workers: DittoWorkerPool): void {
  new Gauge({
    name: 'ditto_worker_pool_up',
    help: 'Whether the Ditto worker pool answers its control socket (1) or not (0)',
    registers: [registry],
    async collect() {
      this.set((await workers.report()).reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ditto_worker_pool_model_loaded',
    help: 'Whether some Ditto worker has loaded the model and passed its self-test (1) or none has (0)',
    registers: [registry],
    async collect() {
      const pool = await workers.report();
      this.set(pool.reachable && pool.model_loaded ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ditto_worker_pool_workers',
    help: 'Ditto model workers in the pool, by device (CUDA_VISIBLE_DEVICES of the worker, "" inherited) and state (absent while the pool is unreachable)',
    labelNames: ['device', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const pool = await workers.report();
      if (!pool.reachable) return;
      const devices = pool.devices.length ? pool.devices : [{ device: null, ...pool }];
      for (const d of devices) for (const state of WORKER_STATES) this.set({ device: d.device ?? '', state }, d[state]);
    },
  });
  new Gauge({
    name: 'ditto_worker_pool_restarts',
    help: 'Ditto workers respawned by the pool since it started (crashes, GPU faults, failed sessions, failed loads)',
    registers: [registry],
    async collect() {
      const pool = await workers.report();
      if (pool.reachable) this.set(pool.restarts);
    },
  });
  for (const [key, name, help] of WARMUP_FIGURES) {
    new Gauge({
      name,
      help: `${help}, seconds, per loaded worker`,
      labelNames: ['worker', 'device'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        const pool = await workers.report();
        if (!pool.reachable) return;
        for (const w of pool.list) {
          const v = w.warmup?.[key];
          if (typeof v === 'number' && w.state !== 'down') this.set({ worker: String(w.id), device: w.device ?? '' }, v / 1000);
        }
      },
    });
  }
}
