/**
 * Issue 18's must-show gradient checks, printed as figures: solveWithVjp's ∂L/∂b, ∂L/∂α, ∂L/∂θ (σ or a Pm) and ∂L/∂x
 * for L = x̄ᵀ(K + αI)⁻¹b against five-point central differences of the float64 CPU forward solve (rtol 1e-12), on the
 * CPU (float64) and, where an adapter exists, the GPU (float32); n = 500, d = 3, α = 0.05. Also the time of the
 * forward solve and of vjp() (one adjoint solve + the derivative reductions), best of 3.
 *
 *   npm run build && EGL_PLATFORM=surfaceless node bench/gradient-check.mjs [--n 500]
 */
import { Matrix } from 'ml-matrix';
import { gaussianKernel, getBackendInfo, kernelOperator, maternKernel, mulberry32, shutdownCpuPool, Vi, Vj } from '../dist/index.js';

const arg = (name, fallback) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? Number(process.argv[k + 1]) : fallback; };
const n = arg('n', 500);
const d = 3;
const alpha = 0.05;
const r = mulberry32(7);
const x = Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(r())));
const vec = () => Float64Array.from({ length: n }, () => 2 * r() - 1);
const b = vec();
const xbar = vec();
const u = vec();
const U = new Matrix(n, d).apply(function (i, j) { this.set(i, j, 2 * r() - 1); });
const dot = (a, c) => { let s = 0; for (let t = 0; t < a.length; t++) s += a[t] * c[t]; return s; };

const KERNELS = [
  { name: 'gaussian', theta: { sigma: 0.3 }, make: (p, t, on) => gaussianKernel(p, { sigma: t.sigma, ...on }) },
  { name: 'matern 2.5', theta: { sigma: 0.4 }, make: (p, t, on) => maternKernel(p, { sigma: t.sigma, nu: 2.5, ...on }) },
  { name: 'string + Pm s', theta: { s: 0.35 }, make: (p, t, on) => kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s: t.s }, { symmetric: true, ...on }) },
];
const CPU = { backend: 'cpu', dtype: 'float64' };
const GPU = { backend: 'gpu', dtype: 'float32' };

async function five(f, h) {
  const [a, c, e, g] = [await f(-2 * h), await f(-h), await f(h), await f(2 * h)];
  return (a - 8 * c + 8 * e - g) / (12 * h);
}
const rel = (a, ref) => Math.abs(a - ref) / Math.abs(ref);

async function references(k) {
  const loss = async (p, t, a = alpha, rhs = b) => dot(xbar, await k.make(p, t, CPU).solve(rhs, a, { rtol: 1e-12 }));
  const moved = (h) => x.map((p, i) => p.map((v, j) => v + h * U.get(i, j)));
  const out = { b: await five((h) => loss(x, k.theta, alpha, b.map((v, i) => v + h * u[i])), 1e-3), alpha: await five((h) => loss(x, k.theta, alpha + h), 1e-4) };
  for (const key of Object.keys(k.theta)) out[key] = await five((h) => loss(x, { ...k.theta, [key]: k.theta[key] + h }), 1e-3);
  // h = 1e-4: at small n the directional derivative can be ≪ ‖∂L/∂x‖·‖U‖ (n = 50 Matérn: 0.6 against 188), where
  // h = 1e-3's truncation error (2e-5 relative there) would dominate.
  out.x = await five((h) => loss(moved(h), k.theta), 1e-4);
  return out;
}

async function measure(k, on, ref) {
  let forward = Infinity;
  let backward = Infinity;
  let g;
  for (let rep = 0; rep < 3; rep++) {
    const K = k.make(x, k.theta, on);
    const t0 = performance.now();
    const { vjp } = await K.solveWithVjp(b, alpha, { rtol: on.dtype === 'float64' ? 1e-12 : 1e-7 });
    const t1 = performance.now();
    g = await vjp(xbar);
    forward = Math.min(forward, t1 - t0);
    backward = Math.min(backward, performance.now() - t1);
  }
  const errors = { b: rel(dot(g.b, u), ref.b), alpha: rel(g.alpha, ref.alpha), x: rel(dot(g.x.to1DArray(), U.to1DArray()), ref.x) };
  for (const key of Object.keys(k.theta)) errors[key] = rel(g.params[key], ref[key]);
  console.log(JSON.stringify({ kernel: k.name, on: `${on.backend} ${on.dtype}`, n, errors, solveMs: +forward.toFixed(1), vjpMs: +backward.toFixed(1) }));
}

const info = await getBackendInfo().catch(() => ({}));
const gpu = info.adapter !== undefined || info.backend === 'gpu';
for (const k of KERNELS) {
  const ref = await references(k);
  await measure(k, CPU, ref);
  if (gpu) await measure(k, GPU, ref).catch((e) => console.log(JSON.stringify({ kernel: k.name, on: 'gpu', error: e.message })));
}
if (!gpu) console.log(JSON.stringify({ gpu: 'no adapter: GPU rows skipped', info }));
await shutdownCpuPool();
process.exit(0);
