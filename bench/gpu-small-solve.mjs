// Issue 16 item 19 on a GPU kernel operator: the small problem (n = 1,257, d = 64 — digits scaled to [0, 1]
// when scikit-learn is installed, else seeded uniform points —, 10 one-hot right-hand sides, Gaussian σ = 2,
// α = 10⁻³, rtol 1e-6) solved by K.solve with backend 'gpu' (what 'auto' takes on a machine with a hardware adapter
// from 2²⁰ pairs on), beside the same operator on the CPU in float32. Prints the plan, iterations and wall time of each.
// Usage: npm run build && EGL_PLATFORM=surfaceless node bench/gpu-small-solve.mjs   (LAZYLINALG_LIB=<dist/index.js>
// runs another build, e.g. an earlier commit's)
import { execFileSync } from 'node:child_process';
import { mulberry32 } from '../dist/index.js';

const lib = await import(process.env.LAZYLINALG_LIB ?? '../dist/index.js');
const { Matrix } = await import('ml-matrix');
const n = 1257;
const d = 64;
let data;
let labels;
try {
  const out = execFileSync('python3', ['-c', `from sklearn.datasets import load_digits\nimport json\nD = load_digits()\nprint(json.dumps([(D.data[:${n}] / 16).ravel().tolist(), D.target[:${n}].tolist()]))`], { maxBuffer: 1 << 26 });
  [data, labels] = JSON.parse(out.toString());
} catch {
  const r = mulberry32(5);
  data = Array.from({ length: n * d }, () => r());
  labels = Array.from({ length: n }, () => Math.floor(r() * 10));
}
const X = Float64Array.from(data);
const Y = new Matrix(n, 10);
labels.forEach((c, i) => Y.set(i, c, 1));
for (const options of [{ backend: 'gpu' }, { backend: 'cpu', dtype: 'float32' }]) {
  const K = lib.gaussianKernel({ data: X, rows: n, cols: d }, { sigma: 2, ...options });
  const t = performance.now();
  const r = await K.solve(Y, 1e-3, { rtol: 1e-6, returnInfo: true });
  const seconds = (performance.now() - t) / 1e3;
  console.log(JSON.stringify({ operator: String(K), seconds: +seconds.toFixed(3), info: r.info, iterations: r.iterations, method: r.plan.method, reason: r.plan.reason }));
  await K.dispose();
}
await lib.shutdownCpuPool();
process.exit(0);
