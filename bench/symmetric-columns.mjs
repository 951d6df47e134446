/**
 * Products of a symmetric kernel (x = y, K not stored: `denseCache: 'never'`) with 1 and 10 right-hand sides, this
 * build against a baseline build, in one process, alternating: where a symmetric product with more than 4 columns
 * evaluates each pair once ('scratch' mode with mirrored columns, src/cpu/wasm-emit.ts) against one that evaluates
 * every pair (the baseline's). Gaussian kernels at n = 1,257, d = 64 (the kernel's evaluation dominates) and
 * n = 20,000, d = 3 (each column's multiply-adds weigh more), float64 and float32; medians of 25 / 5 products after two
 * warm-ups; the largest difference between the two builds' products relative to the largest entry.
 *
 *   npm run build && node bench/symmetric-columns.mjs /path/to/baseline/dist/index.js
 */
import { Matrix } from 'ml-matrix';

const baseline = process.argv[2];
if (!baseline) throw new Error('usage: node bench/symmetric-columns.mjs /path/to/baseline/dist/index.js');
const libs = [['now', '../dist/index.js'], ['before', baseline]];
const mods = await Promise.all(libs.map(([, p]) => import(p)));
const cases = [[1257, 64, 2, 'float64'], [20000, 3, 0.1, 'float32'], [20000, 3, 0.1, 'float64']];
let s = 3;
const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
for (const [n, d, sigma, dtype] of cases) {
  const data = Float64Array.from({ length: n * d }, rand);
  const out = {};
  for (const cols of [1, 10]) {
    const B = new Matrix(n, cols);
    for (let i = 0; i < n; i++) for (let j = 0; j < cols; j++) B.set(i, j, rand() - 0.5);
    const Ks = mods.map((L) => L.gaussianKernel({ data, rows: n, cols: d }, { sigma, backend: 'cpu', denseCache: 'never', dtype }));
    const reps = n > 5000 ? 5 : 25;
    const times = mods.map(() => []);
    for (let k = 0; k < 2; k++) for (const K of Ks) await K.matmat(B);
    for (let r = 0; r < reps; r++) {
      for (let q = 0; q < Ks.length; q++) {
        const t0 = performance.now();
        await Ks[q].matmat(B);
        times[q].push(performance.now() - t0);
      }
    }
    libs.forEach(([name], q) => { out[`${name}${cols}Ms`] = +median(times[q]).toFixed(2); });
    const [Y0, Y1] = await Promise.all(Ks.map((K) => K.matmat(B)));
    let err = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < cols; j++) {
      err = Math.max(err, Math.abs(Y0.get(i, j) - Y1.get(i, j)));
      scale = Math.max(scale, Math.abs(Y1.get(i, j)));
    }
    out[`relDiff${cols}`] = +(err / scale).toExponential(1);
  }
  out.tenOverOneNow = +(out.now10Ms / out.now1Ms).toFixed(2);
  out.tenOverOneBefore = +(out.before10Ms / out.before1Ms).toFixed(2);
  out.tenColumnsBeforeOverNow = +(out.before10Ms / out.now10Ms).toFixed(2);
  console.log(JSON.stringify({ n, d, dtype, ...out }));
}
await Promise.all(mods.map((L) => L.shutdownCpuPool()));
