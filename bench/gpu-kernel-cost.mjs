/**
 * GPU `K.matvec` of the Laplacian and Gaussian kernels (float32, d = 3), this build against a baseline build in one
 * process, alternating blocks of products: what a change to the WGSL hot path costs (norm2's range test, issue 16).
 * Medians of the whole call (upload, kernel, readback) per product; the largest relative difference of the two builds'
 * products.
 *
 *   npm run build && node bench/gpu-kernel-cost.mjs /path/to/baseline/dist/index.js [n=65536] [reps=200]
 *   (KERNELS=maternKernel,… for other named kernels)
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [baseline, nArg = '65536', repsArg = '200'] = process.argv.slice(2);
if (!baseline) throw new Error('usage: node bench/gpu-kernel-cost.mjs /path/to/baseline/dist/index.js [n] [reps]');
const n = Number(nArg);
const reps = Number(repsArg);
const libs = [['this', '../dist/index.js'], ['baseline', pathToFileURL(resolve(baseline)).href]];
const mods = await Promise.all(libs.map(([, p]) => import(p)));
let s = 11;
const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
const data = Float64Array.from({ length: n * 3 }, rand);
const v = Float64Array.from({ length: n }, () => rand() - 0.5);
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
for (const kernel of (process.env.KERNELS ?? 'laplacianKernel,gaussianKernel').split(',')) {
  const Ks = mods.map((L) => L[kernel]({ data, rows: n, cols: 3 }, { sigma: 0.1, backend: 'gpu', dtype: 'float32' }));
  for (const K of Ks) for (let w = 0; w < 10; w++) await K.matvec(v);
  const times = mods.map(() => []);
  for (let block = 0; block < 10; block++) {
    for (let q = 0; q < Ks.length; q++) {
      for (let r = 0; r < reps / 10; r++) {
        const t0 = performance.now();
        await Ks[q].matvec(v);
        times[q].push(performance.now() - t0);
      }
    }
  }
  const [y0, y1] = await Promise.all(Ks.map((K) => K.matvec(v)));
  let err = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    err = Math.max(err, Math.abs(y0[i] - y1[i]));
    scale = Math.max(scale, Math.abs(y1[i]));
  }
  const [a, b] = times.map(median);
  console.log(JSON.stringify({ kernel, n, thisMs: +a.toFixed(3), baselineMs: +b.toFixed(3), ratio: +(a / b).toFixed(3), relDiff: +(err / scale).toExponential(1) }));
}
await Promise.all(mods.map((L) => L.disposeGpu?.() ?? undefined));
process.exit(0);
