/**
 * Issue 19's must-show: a formula kernel solves as fast as the named Gaussian kernel it spells out.
 *   kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s })  against  gaussianKernel(p, { sigma: s })
 * at n = 6,000 (d = 3, uniform in the unit cube), s = 0.2, α = 10⁻³, the same right-hand side; each solve on a fresh
 * operator (nothing cached between them), in alternation, median of `reps` runs. Prints the times, their ratio
 * (target ≤ 1.3), the relative difference of the two solutions, and whether each operator was recognised symmetric.
 *
 *   npm run build && node bench/formula-kernel-solve.mjs [n=6000] [reps=3]
 */
import { Vi, Vj, gaussianKernel, kernelOperator, mulberry32, shutdownCpuPool } from '../dist/index.js';

const n = Number(process.argv[2] ?? 6000);
const reps = Number(process.argv[3] ?? 3);
const d = 3;
const s = 0.2;
const alpha = 1e-3;
const rand = mulberry32(19);
const p = { data: Float64Array.from({ length: n * d }, () => rand()), rows: n, cols: d };
const b = Float64Array.from({ length: n }, () => rand() - 0.5);
const median = (xs) => [...xs].sort((u, v) => u - v)[Math.floor(xs.length / 2)];

const makers = {
  gaussianKernel: () => gaussianKernel(p, { sigma: s }),
  formula: () => kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s }),
};

async function timeSolve(make) {
  const t = performance.now();
  const K = make();
  const x = await K.solve(b, alpha);
  const ms = performance.now() - t;
  await K.dispose();
  return { ms, x, symmetric: K.symmetric, label: String(K) };
}

const times = { gaussianKernel: [], formula: [] };
let last = {};
for (let r = 0; r < reps; r++) {
  for (const name of Object.keys(makers)) {
    const res = await timeSolve(makers[name]);
    times[name].push(res.ms);
    last[name] = res;
  }
}
const xa = last.gaussianKernel.x;
const xb = last.formula.x;
let num = 0;
let den = 0;
for (let i = 0; i < n; i++) { num += (xa[i] - xb[i]) ** 2; den += xa[i] ** 2; }
const g = median(times.gaussianKernel);
const f = median(times.formula);
console.log(JSON.stringify({
  n, d, s, alpha, reps,
  gaussianKernel: { ms: Math.round(g), symmetric: last.gaussianKernel.symmetric, operator: last.gaussianKernel.label },
  formula: { ms: Math.round(f), symmetric: last.formula.symmetric, operator: last.formula.label },
  ratio: +(f / g).toFixed(3),
  target: 1.3,
  relativeDifferenceOfSolutions: Math.sqrt(num / den),
}));
await shutdownCpuPool();
