/**
 * eigsh's Lanczos sweeps at n = 2²⁰, 21 slots (ncv = 20): the plain-array sweeps in JS beside the WASM SIMD kernels on
 * the calling thread and over the pool (cpu/basis-sweeps.ts), in one run. Per sweep, the median of 5: dots of 20
 * vectors, the CGS subtraction fused with the next dots, the subtraction alone, and a restart's 12 Ritz vectors of 20.
 * A Lanczos step costs about one of each of the first three at its basis size; a restart, one combination.
 *
 *   npm run build && node bench/basis-sweeps.mjs [--n=1048576]
 */
import { setCpuThreads } from '../dist/index.js';
import { BasisSweeps } from '../dist/cpu/basis-sweeps.js';
import { poolThreads, startCpuPool } from '../dist/cpu/pool.js';
import { ArrayBasis } from '../dist/operators/basis.js';

const n = Number(process.argv.find((a) => a.startsWith('--n='))?.slice(4) ?? 2 ** 20);
const slots = 21;
const threads = poolThreads();
const Y = Float64Array.from({ length: 400 }, (_, i) => Math.cos(i) / 8);
const cols = Array.from({ length: 12 }, (_, i) => i);

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
async function time(run, reps = 5) {
  const ms = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return +median(ms).toFixed(1);
}

async function measure(basis) {
  for (let j = 0; j < slots; j++) {
    const v = basis.column(j);
    for (let i = 0; i < n; i++) v[i] = Math.sin(0.001 * i * (j + 1));
  }
  const c = new Float64Array(20);
  const next = new Float64Array(20);
  const tiny = new Float64Array(20).fill(1e-12); // keeps the basis from drifting over the repetitions
  return {
    dots: await time(() => basis.dots(c, 20, 20)),
    subtractAndDots: await time(() => basis.subtractAndDots(20, 20, tiny, next)),
    subtract: await time(() => basis.subtract(20, 20, tiny)),
    combine12of20: await time(() => basis.combineInPlace(Y, 20, cols), 3),
  };
}

const js = await measure(new ArrayBasis(n, slots));
await setCpuThreads(1);
const solo = await measure(await BasisSweeps.create(n, slots));
await setCpuThreads(threads);
await startCpuPool();
const pooled = threads > 1 ? await measure(await BasisSweeps.create(n, slots)) : undefined;
const ratios = (a, b) => b && Object.fromEntries(Object.keys(a).map((k) => [k, +(a[k] / b[k]).toFixed(2)]));
console.log(JSON.stringify({ n, slots, threads, msPerSweep: { js, wasmSolo: solo, wasmPool: pooled }, 'js/wasmSolo': ratios(js, solo), 'wasmSolo/wasmPool': ratios(solo, pooled) }));
process.exit(0);
