/** The CPU platform of Node: cores and memory from `node:os`, piscina worker threads, V8's flags. */
import { availableParallelism, totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Piscina } from 'piscina';
import { installCpuPlatform, type CpuPlatform } from './platform.js';

export const nodePlatform: CpuPlatform = {
  name: 'node',
  sharedMemory: true,
  cores: () => availableParallelism(),
  totalMemory: () => totalmem(),
  env: (name) => process.env[name],
  cpuTimeMs: () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  },
  warn: (message, code) => process.emitWarning(message, { code }),
  /**
   * Kernel modules are compiled by V8's optimizing compiler only (`--no-liftoff`) from the first compile on. With
   * the default baseline-first tiering, the first product of a new program runs entirely in baseline code — a wasm
   * call does not switch tiers mid-call and each worker runs one long call — measured 9.3 s instead of 0.63 s for a
   * first 64-column product at n = 8,000. And eagerly (`--no-wasm-lazy-compilation`): Node 20's V8 otherwise compiles
   * each function at its first call, on the calling thread, so that `WebAssembly.compile` overlapped nothing — the
   * packed product compiled at the first product after K was stored instead of while it was. LAZYLINALG_WASM_TIERING=
   * default leaves V8 as it is.
   */
  optimizeWasm: () => {
    if (process.env['LAZYLINALG_WASM_TIERING'] !== 'default') setFlagsFromString('--no-liftoff --no-wasm-lazy-compilation');
  },
  createPool: (threads) => new Piscina({
    filename: new URL('./pool-worker.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    // one task per worker at a time: tasks are already sized to one row range per core
    concurrentTasksPerWorker: 1,
    idleTimeout: 30_000,
  }),
};

installCpuPlatform(nodePlatform);
