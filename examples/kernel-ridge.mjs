// Kernel ridge regression with KernelRidge (scikit-learn's API): fit on noisy samples of a smooth function of 3
// variables, predict at held-out points, score by R² and RMSE; several outputs at once.
// Run: npm run build && node examples/kernel-ridge.mjs      (LAZYLINALG_EXAMPLE_N=1000 for a quick run)
import { KernelRidge } from 'lazylinalg';
import { seeded } from './random.mjs';

const n = Number(process.env.LAZYLINALG_EXAMPLE_N ?? 10_000);
const { rand, gauss } = seeded(4);
const f = ([a, b, c]) => Math.sin(3 * a) + Math.cos(2 * b) * c;
const sample = (m) => Array.from({ length: m }, () => [rand(), rand(), rand()]);

const x = sample(n), t = sample(1000);
const y = Float64Array.from(x, (p) => f(p) + 0.1 * gauss());
const truth = Float64Array.from(t, f);

let t0 = performance.now();
const model = await new KernelRidge({ kernel: 'gaussian', sigma: 0.3, alpha: 1e-1 }).fit(x, y);
console.log(`fit on n = ${n} in ${(performance.now() - t0).toFixed(0)} ms`);
t0 = performance.now();
const predicted = await model.predict(t);
const rmse = Math.sqrt(predicted.reduce((s, v, i) => s + (v - truth[i]) ** 2, 0) / t.length);
console.log(`predicted ${t.length} points in ${(performance.now() - t0).toFixed(0)} ms; RMSE against the noiseless f: ${rmse.toFixed(4)} (noise 0.1)`);
console.log(`R² on held-out points: ${(await model.score(t, truth)).toFixed(4)}`);

// two outputs in one fit: y as an n×2 block (number[][]); predictions come back as an ml-matrix Matrix
const Y = x.map((p, i) => [y[i], f(p) ** 2]);
const both = await new KernelRidge({ sigma: 0.3, alpha: 1e-1 }).fit(x, Y);
const P = await both.predict(t.slice(0, 3));
console.log(`two outputs at 3 points: ${P.rows}×${P.columns}`, P.to2DArray().map((r) => r.map((v) => v.toFixed(3))));
