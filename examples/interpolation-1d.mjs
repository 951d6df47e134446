// Kernel interpolation in 1-D (KeOps' tutorial, in lazylinalg): fit (K + αI) a = b, predict K(t, x)·a.
// Run: npm run build && node examples/interpolation-1d.mjs      (LAZYLINALG_EXAMPLE_N=2000 for a quick run)
import { gaussianKernel } from 'lazylinalg';
import { seeded } from './random.mjs';

const N = Number(process.env.LAZYLINALG_EXAMPLE_N ?? 10_000);
const { rand, gauss } = seeded(0);
const sigma = 0.1; // kernel radius
const alpha = 1; // ridge regularisation

// sampling locations and a random-ish 1-D signal
const x = Array.from({ length: N }, () => rand());
const b = Float64Array.from(x, (v) => v + 0.5 * Math.sin(6 * v) + 0.1 * Math.sin(20 * v) + 0.05 * gauss());

const K = gaussianKernel(x, { sigma }); // symbolic: exp(-|x - y|²/(2σ²)), never stored as a matrix by us
let t0 = performance.now();
const a = await K.solve(b, alpha); // (K + αI) a = b
console.log(`${K}: solved (K + ${alpha}·I) a = b in ${(performance.now() - t0).toFixed(0)} ms`);

// the interpolant on a uniform grid: one product with the cross kernel K(t, x)
const t = Array.from({ length: 1001 }, (_, i) => i / 1000);
t0 = performance.now();
const mean = await gaussianKernel(t, { y: x, sigma }).matvec(a);
console.log(`predicted at ${t.length} points in ${(performance.now() - t0).toFixed(0)} ms`);

const truth = (v) => v + 0.5 * Math.sin(6 * v) + 0.1 * Math.sin(20 * v);
const rmse = Math.sqrt(t.reduce((s, v, i) => s + (mean[i] - truth(v)) ** 2, 0) / t.length);
console.log(`RMSE against the noiseless signal: ${rmse.toFixed(4)} (noise level 0.05)`);
for (const v of [0, 0.25, 0.5, 0.75, 1]) {
  console.log(`  f(${v.toFixed(2)}) = ${truth(v).toFixed(3)}, interpolant ${mean[Math.round(v * 1000)].toFixed(3)}`);
}
