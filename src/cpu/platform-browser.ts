/**
 * The CPU platform of a browser: Web Workers sharing the caller's WebAssembly memory when the page is
 * cross-origin isolated (COOP/COEP headers; shared memories cannot be posted to workers otherwise), one
 * thread — the calling one — when it is not.
 */
import { installCpuPlatform, type CpuPlatform, type PoolTask, type PoolWorker, type WorkerPool } from './platform.js';

/** The worker's code: runs one task's `reduce` on the memory it was handed (the same as pool-worker.cjs in Node). */
const WORKER_SOURCE = `
self.onmessage = (e) => {
  const { id, module, memory, args } = e.data;
  try {
    const instance = new WebAssembly.Instance(module, { env: { mem: memory } });
    instance.exports.reduce(...args);
    self.postMessage({ id });
  } catch (error) {
    self.postMessage({ id, error: String(error && error.message || error) });
  }
};
self.postMessage({ online: true });
`;

interface Pending { task: PoolTask; resolve: () => void; reject: (error: Error) => void }

/** One Web Worker; says 'online' after its first message. */
class BrowserWorker implements PoolWorker {
  private readonly worker: Worker;
  private onlineListeners: (() => void)[] = [];
  online = false;
  busy: { id: number; pending: Pending } | undefined;

  constructor(url: string, private readonly pool: BrowserWorkerPool) {
    this.worker = new Worker(url, { name: 'lazylinalg-cpu' });
    this.worker.onmessage = (e: MessageEvent<{ online?: boolean; id?: number; error?: string }>) => {
      if (e.data.online) {
        this.online = true;
        for (const l of this.onlineListeners.splice(0)) l();
        this.pool.dispatch();
        return;
      }
      const job = this.busy;
      this.busy = undefined;
      if (job) {
        if (e.data.error === undefined) job.pending.resolve();
        else job.pending.reject(new Error(`CPU work failed in a worker: ${e.data.error}`));
      }
      this.pool.dispatch();
    };
    this.worker.onerror = (e: ErrorEvent) => this.fail(new Error(`CPU work failed (on the worker pool): a worker died while computing it (${e.message})`));
  }

  once(_event: 'online', listener: () => void): void {
    if (this.online) listener();
    else this.onlineListeners.push(listener);
  }

  start(id: number, pending: Pending): void {
    this.busy = { id, pending };
    const { module, memory, args } = pending.task;
    this.worker.postMessage({ id, module, memory, args });
  }

  fail(error: Error): void {
    const job = this.busy;
    this.busy = undefined;
    this.online = false;
    this.worker.terminate();
    this.pool.drop(this);
    job?.pending.reject(error);
  }

  terminate(): void {
    this.fail(new Error('CPU work failed (on the worker pool): a worker died while computing it (terminated)'));
  }
}

/** Workers taking queued tasks one at a time each (as piscina with concurrentTasksPerWorker 1). */
class BrowserWorkerPool implements WorkerPool {
  threads: BrowserWorker[];
  private readonly queue: Pending[] = [];
  private readonly url: string;
  private nextId = 0;

  constructor(count: number) {
    this.url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    this.threads = Array.from({ length: count }, () => new BrowserWorker(this.url, this));
  }

  get queueSize(): number {
    return this.queue.length;
  }

  run(task: PoolTask): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  dispatch(): void {
    for (const w of this.threads) {
      if (this.queue.length === 0) return;
      if (w.online && !w.busy) w.start(this.nextId++, this.queue.shift()!);
    }
  }

  drop(worker: BrowserWorker): void {
    this.threads = this.threads.filter((w) => w !== worker);
    if (this.threads.length === 0) {
      for (const p of this.queue.splice(0)) p.reject(new Error('CPU work failed (on the worker pool): every worker of the pool died'));
    }
  }

  async destroy(): Promise<void> {
    for (const p of this.queue.splice(0)) p.reject(new Error('CPU work interrupted (on the worker pool): the pool was shut down'));
    for (const w of [...this.threads]) w.terminate();
    URL.revokeObjectURL(this.url);
  }
}

const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;

export const browserPlatform: CpuPlatform = {
  name: isolated ? 'browser (cross-origin isolated)' : 'browser (not cross-origin isolated: one thread)',
  sharedMemory: isolated,
  cores: () => (isolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1),
  // navigator.deviceMemory (GiB, Chromium only, rounded down and capped at 8); 4 GiB where absent
  totalMemory: () => ((navigator as { deviceMemory?: number }).deviceMemory ?? 4) * 2 ** 30,
  env: () => undefined,
  warn: (message, code) => console.warn(`${message} (${code})`),
  optimizeWasm: () => undefined,
  syncCompile: false,
  createPool: (threads) => new BrowserWorkerPool(threads),
};

installCpuPlatform(browserPlatform);
