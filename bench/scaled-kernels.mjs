/**
 * The named kernels of r/σ bind their points centred and divided by σ (issue 16, item 6): does that cost product
 * time against the σ-parameter formula they replaced (exp(−|x − y|²/(2σ²)) with σ a Pm)? Both operators side by
 * side in one process, alternating, median of the repetitions; and the relative difference of their products.
 *
 *   npm run build && node bench/scaled-kernels.mjs [n=20000] [reps=7] [backend=cpu]
 *
 * (backend 'gpu' needs an adapter; EGL_PLATFORM=surfaceless for Dawn on llvmpipe.)
 */
import { gaussianKernel, kernelOperator, Pm, setBackend, shutdownCpuPool, Vi, Vj } from '../dist/index.js';

const n = Number(process.argv[2] ?? 20000);
const reps = Number(process.argv[3] ?? 7);
const backend = process.argv[4] ?? 'cpu';
if (backend === 'gpu') await setBackend('gpu');
let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32); // seeded, uniform in [0, 1)
const pts = { data: Float64Array.from({ length: 3 * n }, () => rand()), rows: n, cols: 3 };
const b = Float64Array.from({ length: n }, () => rand() - 0.5);
const sigma = 0.1;
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const relDiff = (a, c) => Math.sqrt(a.reduce((s, v, i) => s + (v - c[i]) ** 2, 0) / c.reduce((s, v) => s + v * v, 0));

for (const dtype of backend === 'gpu' ? ['float32'] : ['float64', 'float32']) {
  const options = { dtype, backend, denseCache: 'never' };
  const scaled = gaussianKernel(pts, { ...options, sigma });
  const param = kernelOperator(Vi(pts).sub(Vj(pts)).sqnorm2().div(Pm(sigma, 'sigma').square().mul(2)).neg().exp(), { ...options, symmetric: true });
  const ms = { scaled: [], param: [] };
  const out = {};
  for (const [name, K] of [['scaled', scaled], ['param', param]]) out[name] = await K.matvec(b); // warm-up: compile, pool start
  for (let r = 0; r < reps; r++) {
    for (const [name, K] of r % 2 ? [['param', param], ['scaled', scaled]] : [['scaled', scaled], ['param', param]]) {
      const t0 = performance.now();
      out[name] = await K.matvec(b);
      ms[name].push(performance.now() - t0);
    }
  }
  console.log(JSON.stringify({
    n, backend, dtype, reps,
    scaledMs: +median(ms.scaled).toFixed(1), paramMs: +median(ms.param).toFixed(1),
    ratio: +(median(ms.scaled) / median(ms.param)).toFixed(3),
    relativeDifference: relDiff(out.scaled, out.param).toExponential(2),
  }));
}
await shutdownCpuPool();
