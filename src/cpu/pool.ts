/**
 * The CPU worker pool (piscina): one worker per core, each running row ranges of generated
 * WASM reductions on memory shared with the caller. Workers are created on first use and do
 * not keep the process alive when idle.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';

let pool: Piscina | undefined;
let threads = defaultThreads();

function defaultThreads(): number {
  const fromEnv = Number(process.env['LAZYLINALG_THREADS']);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

/** Number of threads CPU products are split over. */
export function poolThreads(): number {
  return threads;
}

/** Sets the number of CPU threads (takes effect for products started afterwards). */
export async function setCpuThreads(count: number): Promise<void> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`setCpuThreads: expected a positive integer, got ${count}`);
  if (count === threads) return;
  threads = count;
  await shutdownCpuPool();
}

export function getPool(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./pool-worker.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    // one task per worker at a time: tasks are already sized to one row range per core
    concurrentTasksPerWorker: 1,
    idleTimeout: 30_000,
  });
  return pool;
}

/** Stops the worker threads (they restart on the next parallel product). */
export async function shutdownCpuPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p) await p.destroy();
}
