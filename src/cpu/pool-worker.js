// @ts-check
/**
 * Worker-thread side of the CPU pool: runs one row range of a generated WASM reduction against
 * the caller's shared memory. Plain JS (type-checked) so that the same file serves the built
 * package and the TypeScript sources under vitest.
 */

// piscina hands its workerData option to each worker as worker_threads' own. Imported from the built-in, not from
// 'piscina': piscina loads this file by require(), and Node 20's require() of an ES module importing a CommonJS
// package crashed a worker now and then (an assertion in CreateRequiredModuleFacade)
import { workerData } from 'node:worker_threads';

// tells the pool this worker runs (platform-node.ts: a shared counter the caller reads without its event loop)
if (workerData && workerData.booted instanceof SharedArrayBuffer) Atomics.add(new Int32Array(workerData.booted), 0, 1);

/**
 * @param {{ module: WebAssembly.Module, memory: WebAssembly.Memory, args: number[] }} task
 * @returns {number}
 */
export default function runReduction(task) {
  const instance = new WebAssembly.Instance(task.module, { env: { mem: task.memory } });
  const reduce = /** @type {(...args: number[]) => void} */ (instance.exports['reduce']);
  reduce(...task.args);
  return 0;
}
