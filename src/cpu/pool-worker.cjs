// @ts-check
/**
 * Worker-thread side of the CPU pool: runs one row range of a generated WASM reduction against
 * the caller's shared memory. Plain JS (type-checked) so that the same file serves the built
 * package and the TypeScript sources under vitest.
 *
 * CommonJS: piscina loads its task file with require() first, and Node 20.19+ then loads an ES module through
 * require(esm), whose CreateRequiredModuleFacade aborted the whole process now and then ("FATAL ERROR:
 * v8::ToLocalChecked Empty MaybeLocal" from piscina/dist/worker.js, a CI run of the test suite at 28793d0). A CommonJS
 * file never takes that path.
 */

// piscina hands its workerData option to each worker as worker_threads' own (read from the built-in, not 'piscina')
const { setFlagsFromString } = require('node:v8');
const { runInNewContext } = require('node:vm');
const { workerData } = require('node:worker_threads');

// tells the pool this worker runs (platform-node.ts: a shared counter the caller reads without its event loop)
if (workerData && workerData.booted instanceof SharedArrayBuffer) Atomics.add(new Int32Array(workerData.booted), 0, 1);

/**
 * A full garbage collection of this worker's isolate, or undefined where none can be had: memories the caller has
 * dropped stay resident while this isolate holds their objects (see `collectWith` in pool.ts). With --expose-gc the
 * worker has `gc` already; else the flag is set for one new context that hands its `gc` over, then unset again.
 */
const collect = (() => {
  const own = /** @type {{ gc?: () => void }} */ (globalThis).gc;
  if (typeof own === 'function') return own;
  try {
    setFlagsFromString('--expose-gc');
    try {
      const gc = runInNewContext('gc');
      return typeof gc === 'function' ? /** @type {() => void} */ (gc) : undefined;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  } catch {
    return undefined;
  }
})();

/**
 * @param {{ module: WebAssembly.Module, memory: WebAssembly.Memory, args: number[], collect?: boolean }} task
 * @returns {number}
 */
function runReduction(task) {
  // here, not after the task: a piscina worker waiting for its next task may not run its event loop for long
  if (task.collect && collect) collect();
  const instance = new WebAssembly.Instance(task.module, { env: { mem: task.memory } });
  const reduce = /** @type {(...args: number[]) => void} */ (instance.exports['reduce']);
  reduce(...task.args);
  return 0;
}

module.exports = runReduction;
