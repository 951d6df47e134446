/**
 * Block CG per iteration against one column where K is not stored (`denseCache: 'never'`: every product evaluates the
 * kernel), issue 16 item 19's ratio target (≤ 1.5× at 10 columns) outside the stored-K regime of bench/block-flow.mjs:
 * n = 1,257, d = 64 (the kernel's evaluation dominates) and n = 20,000, d = 3 (each column's own multiply-adds do).
 * Fixed iteration counts (rtol far below reach), one warm-up of each first, two measurements each.
 *
 *   npm run build && node bench/block-symbolic.mjs
 */
import { Matrix } from 'ml-matrix';
import { cg, gaussianKernel, mulberry32, shutdownCpuPool } from '../dist/index.js';

const rand = mulberry32(3);
const rows = (n, d) => ({ data: Float64Array.from({ length: n * d }, () => rand()), rows: n, cols: d });
async function perIteration(A, b, iterations) {
  const t = performance.now();
  const r = await cg(A, b, { rtol: 1e-300, maxiter: iterations });
  return (performance.now() - t) / r.iterations;
}
for (const [n, d, sigma, cols, dtype] of [[1257, 64, 2, 10, 'float64'], [20000, 3, 0.1, 4, 'float32'], [20000, 3, 0.1, 10, 'float32'], [20000, 3, 0.1, 10, 'float64']]) {
  const K = gaussianKernel(rows(n, d), { sigma, backend: 'cpu', denseCache: 'never', dtype }).shift(0.01);
  const b = Float64Array.from({ length: n }, () => rand() - 0.5);
  const B = new Matrix(n, cols);
  for (let i = 0; i < n; i++) for (let j = 0; j < cols; j++) B.set(i, j, rand() - 0.5);
  const iterations = n > 5000 ? 6 : 30;
  await perIteration(K, b, 3);
  await perIteration(K, B, 3);
  const ratios = [];
  let last;
  for (let r = 0; r < 2; r++) {
    const one = await perIteration(K, b, iterations);
    const block = await perIteration(K, B, iterations);
    ratios.push(+(block / one).toFixed(2));
    last = { oneMs: +one.toFixed(2), blockMs: +block.toFixed(2) };
  }
  console.log(JSON.stringify({ n, d, cols, dtype, ...last, ratios }));
}
await shutdownCpuPool();
