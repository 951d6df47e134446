// Kernel interpolation in 2-D with a Laplacian kernel exp(-|x - y|/σ) (KeOps' second tutorial), and the same fit
// written as a formula string.
// Run: npm run build && node examples/interpolation-2d.mjs      (LAZYLINALG_EXAMPLE_N=1000 for a quick run)
import { kernelOperator, laplacianKernel, Vi, Vj } from 'lazylinalg';
import { seeded } from './random.mjs';

const N = Number(process.env.LAZYLINALG_EXAMPLE_N ?? 5_000);
const { rand, gauss } = seeded(1);
const sigma = 0.1;
const alpha = 10;
const f = ([u, v]) => Math.cos(6 * u) * Math.sin(4 * v) + 0.5 * Math.exp(-((u - 0.5) ** 2 + (v - 0.5) ** 2) / 0.02);

const x = Array.from({ length: N }, () => [rand(), rand()]);
const b = Float64Array.from(x, (p) => f(p) + 0.05 * gauss());

const K = laplacianKernel(x, { sigma });
let t0 = performance.now();
const a = await K.solve(b, alpha);
console.log(`${K}: fitted in ${(performance.now() - t0).toFixed(0)} ms`);

// predict on a 50 × 50 grid
const g = 50;
const grid = Array.from({ length: g * g }, (_, k) => [((k % g) + 0.5) / g, (Math.floor(k / g) + 0.5) / g]);
const fit = await laplacianKernel(grid, { y: x, sigma }).matvec(a);
const rmse = Math.sqrt(grid.reduce((s, p, k) => s + (fit[k] - f(p)) ** 2, 0) / grid.length);
console.log(`RMSE on a ${g}×${g} grid against the noiseless function: ${rmse.toFixed(4)}`);

// the same cross kernel as a formula (mathjs syntax; Vi: indexed by the output row, Vj: summed over)
const F = kernelOperator('exp(-norm2(t - y) / s)', { t: Vi(grid), y: Vj(x), s: sigma });
const same = await F.matvec(a);
const diff = Math.max(...same.map((v, k) => Math.abs(v - fit[k])));
console.log(`formula operator ${F}: max difference from laplacianKernel ${diff.toExponential(1)}`);
