/**
 * The CPU worker pool (piscina in Node, Web Workers in a browser: see platform.ts): one worker per core,
 * each running row ranges of generated WASM reductions on memory shared with the caller. Workers are
 * created on first use and do not keep the process alive when idle.
 */
import { cpuPlatform, type PoolTask, type WorkerPool } from './platform.js';

export type { PoolTask } from './platform.js';

let pool: WorkerPool | undefined;
let threads: number | undefined;
/** Whether `pool`'s workers all run (see getPool). */
let ready = false;

/**
 * The thread count asked for by `source` (LAZYLINALG_THREADS or setCpuThreads), clamped to the cores
 * available: more threads than cores only add memory (each worker holds its own compiled programs) and
 * context switches — 1,000 threads took 177 s and 9 GB for a 1,000-point demo.
 */
export function clampThreads(count: number, source: string, cores = cpuPlatform().cores()): number {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`${source}: expected a positive integer number of threads, got ${typeof count === 'number' ? count : `${JSON.stringify(count)} (${typeof count})`}`);
  }
  if (count <= cores) return count;
  cpuPlatform().warn(`${source} = ${count} exceeds the ${cores} cores available; using ${cores} threads`, 'LAZYLINALG_THREADS_CLAMPED');
  return cores;
}

/**
 * The thread count LAZYLINALG_THREADS asks for (`raw`): unset or blank gives one thread per core, a positive
 * integer (decimal or exponent form) is clamped to the cores available, anything else is an error naming it.
 */
export function threadsFromEnvironment(raw: string | undefined, cores = cpuPlatform().cores()): number {
  if (raw === undefined || raw.trim() === '') return cores;
  const count = Number(raw.trim());
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`LAZYLINALG_THREADS must be a positive integer number of threads, got '${raw}'`);
  }
  return clampThreads(count, 'LAZYLINALG_THREADS', cores);
}

/** Number of threads CPU products are split over (LAZYLINALG_THREADS is read at the first call). */
export function poolThreads(): number {
  threads ??= threadsFromEnvironment(cpuPlatform().env('LAZYLINALG_THREADS'));
  return threads;
}

/**
 * Sets the number of CPU threads (takes effect for products started afterwards). A count above the
 * cores available is clamped to them, with a warning.
 */
export async function setCpuThreads(count: number): Promise<void> {
  const clamped = clampThreads(count, 'setCpuThreads');
  if (clamped === threads) return;
  threads = clamped;
  // products already running finish on the old pool (they were interrupted, blamed on a shutdownCpuPool() never
  // called); products started from now on get a pool of the new size
  const old = detachPool();
  if (old) {
    await Promise.allSettled(running.get(old) ?? []);
    await old.destroy();
  }
}

/** Tasks each pool is running, for `setCpuThreads` to let them finish. */
const running = new WeakMap<WorkerPool, Set<Promise<unknown>>>();

/** Takes the pool out of use (the next parallel product starts another) and returns it. */
function detachPool(): WorkerPool | undefined {
  const p = pool;
  pool = undefined;
  ready = false;
  soloMs = 0;
  return p;
}

/**
 * The pool, started at the first call: its workers boot (a Node environment each) in the background; the pool
 * is ready (`poolReady`) once they all run.
 */
export function getPool(): WorkerPool {
  if (pool) return pool;
  const p = (pool = cpuPlatform().createPool(poolThreads()));
  ready = false;
  // ready once every worker thread runs (its Node environment booted, the costly part); no probe task, which
  // would hold a worker that a product could use
  let online = 0;
  for (const worker of p.threads) {
    worker.once('online', () => {
      if (++online === p.threads.length && pool === p) ready = true;
    });
  }
  return p;
}

/**
 * CPU time (ms) that starting the pool costs: each worker boots a Node environment — two workers took 136–156 ms
 * of process CPU until ready on the 2-core VM of bench/RESULTS.md — taken from the cores the work runs on. A
 * process whose splittable work stays below it never starts the pool.
 */
export const POOL_START_COST_MS = 140;

/** Calling-thread runs shorter than this (ms) are not counted as splittable work: a few pool round trips. */
export const MIN_COUNTED_SOLO_MS = 0.5;

/** CPU milliseconds of splittable work run on the calling thread since the pool was last stopped (`recordSoloWork`). */
let soloMs = 0;

/**
 * Runs `work` on the calling thread and counts its time as work the pool could have split (see `poolTasks`), where
 * `counted`. Wall time: the process's CPU time (getrusage) cost ≈ 8 µs a reading, 4 ms over the ≈ 500 short sweeps of
 * a cold shift-invert eigsh at n = 1,500; a busy machine's inflated wall time only starts the pool sooner.
 */
export function timeSoloWork<T>(work: () => T, counted = true): T {
  const start = performance.now();
  const result = work();
  if (counted) recordSoloWork(performance.now() - start);
  return result;
}

/** Counts a calling-thread run of work that the pool could have split (see `poolTasks`). */
export function recordSoloWork(ms: number): void {
  if (ms >= MIN_COUNTED_SOLO_MS) soloMs += ms;
}

/** The splittable work run on the calling thread so far (ms), for tests. */
export function soloWorkMs(): number {
  return soloMs;
}

/**
 * How many parts to split a piece of work the pool could take into: the pool's threads when its workers run,
 * else 1 (the calling thread) — unless `big`, work that alone pays for the workers' boot, which starts the pool
 * and waits for it. The pool is started, in the background, once the work run on the calling thread adds up to
 * POOL_START_COST_MS: the ski-rental rule, so that a short-lived process (a small eigsh, a fit at n ≈ 1,000)
 * never pays for workers it would not use, and a long one pays at most twice what starting at once would.
 */
export function poolTasks(big: boolean): number {
  const threads = poolThreads();
  if (threads === 1) return 1;
  if (poolReady()) return threads;
  if (big) {
    getPool();
    return threads;
  }
  if (soloMs >= POOL_START_COST_MS) getPool();
  return 1;
}

/** Whether the pool is started and its workers run: a task sent now does not wait for a thread's boot. */
export function poolReady(): boolean {
  if (pool === undefined) return false;
  if (!ready && pool.booted && pool.booted() >= pool.threads.length) ready = true;
  return ready;
}

/**
 * Starts the pool (if it is not) and resolves once its workers run: for callers that know large work follows. Rejects
 * if that pool is stopped first (`shutdownCpuPool`, `setCpuThreads`): it polled for it forever, a timer that kept
 * the process alive after its work was done.
 */
export async function startCpuPool(): Promise<void> {
  const p = getPool();
  while (!poolReady()) {
    if (pool !== p) throw new Error('the CPU worker pool was stopped (shutdownCpuPool or setCpuThreads) before its workers ran');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Whether the pool's worker threads are running (started and not shut down). */
export function poolStarted(): boolean {
  return pool !== undefined;
}

/**
 * Runs `task` on a worker. A worker that dies under it (killed, out of memory) or a shutdownCpuPool()
 * meanwhile rejects with an error saying so, the pool's own error as its cause.
 */
export async function runOnPool(task: PoolTask): Promise<void> {
  const p = getPool();
  const job = p.run(collectWith(task));
  let tasks = running.get(p);
  if (!tasks) running.set(p, (tasks = new Set()));
  tasks.add(job);
  try {
    await job;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (pool !== p) throw new Error(`CPU work interrupted (a product, store, factorisation or sweep on the worker pool): shutdownCpuPool() ran while it was computing (${message})`, { cause: error });
    // piscina's errors for a worker that exited or was terminated under a task
    if (/^worker exited with code|^Terminating worker thread/.test(message)) {
      throw new Error(`CPU work failed (a product, store, factorisation or sweep on the worker pool): a worker thread died while computing it (${message})`, { cause: error });
    }
    throw error;
  } finally {
    tasks.delete(job);
  }
}

/**
 * Memories a worker may hold after the caller dropped them: a worker handed a memory keeps its backing store alive
 * until its own isolate collects the memory object, and a worker's small heap hardly ever fills — so memories the
 * caller dropped without recycling (an operator's stored K never disposed, a released factor) stayed resident after
 * this thread had collected them: +115 MiB a round of bench/concurrency-stress.mjs, 1.1 GB after eight rounds. The
 * memories handed to the workers are counted here once this thread has collected them; when they add up to
 * COLLECT_AFTER_DROPPED_BYTES, the next task of each worker first collects (10–30 ms on the 2-vCPU VM).
 */
const COLLECT_AFTER_DROPPED_BYTES = 64 * 2 ** 20;
let droppedBytes = 0;
let collectsToAsk = 0;
const handed = new WeakSet<WebAssembly.Memory>();
const drops = new FinalizationRegistry<number>((bytes) => {
  droppedBytes += bytes;
});

/** `task`, marked to collect first where dropped memories add up (one task per worker); its memory's drop counted. */
function collectWith(task: PoolTask): PoolTask {
  if (!handed.has(task.memory)) {
    handed.add(task.memory);
    drops.register(task.memory, task.memory.buffer.byteLength);
  }
  if (droppedBytes >= COLLECT_AFTER_DROPPED_BYTES) {
    droppedBytes = 0;
    collectsToAsk = poolThreads();
  }
  if (collectsToAsk === 0) return task;
  collectsToAsk--;
  return { ...task, collect: true };
}

/** Stops the worker threads (they restart on the next parallel product). */
export async function shutdownCpuPool(): Promise<void> {
  const p = detachPool();
  if (p) await p.destroy();
}
