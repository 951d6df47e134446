/**
 * Where the time of `gpNegativeLogMarginalLikelihood` + gradient goes on a GPU kernel operator (issue 21, run 5), per
 * preconditioner of SLQ's block CG, side by side in one run: the build, one application to the 17 columns [y, z₁ … z₁₆],
 * one product of K + sI with them, the probes' sampling, the trace control variate tr(P⁻¹ ∂K/∂σ) where P gives it (null
 * where not), and the whole call (preconditioner cached, so build excluded) with its iterations. Block-CG time ≈
 * iterations × (product + application) of the shrinking block: `estimatedCgMs` (an upper bound).
 *
 *   npm run build && EGL_PLATFORM=surfaceless node bench/gp-phases.mjs [--n=6000] [--noise=0.1] [--probes=16]
 *       [--choices=pivoted-cholesky,device-landmarks] [--rank=R] [--no-call] [--no-cv]
 *
 * Same problem as `node bench/gpu-runs.mjs grad` (Gaussian σ = 0.1, d = 3, x uniform, y = sin 2πx₁·cos 2πx₂ + x₃ + noise).
 */
import { Matrix } from 'ml-matrix';
import * as lib from '../dist/index.js';

const { gaussianKernel, gpNegativeLogMarginalLikelihood, mulberry32, parameterDerivativeOperator, setBackend, shutdownCpuPool } = lib;

const args = process.argv.slice(2);
const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const n = Number(flag('n') ?? 6000);
const noise = Number(flag('noise') ?? 0.1);
const probes = Number(flag('probes') ?? 16);
const choices = (flag('choices') ?? 'pivoted-cholesky,device-landmarks').split(',');
const rank = flag('rank') === undefined ? undefined : Number(flag('rank'));
// --no-call: the phases without the whole call (llvmpipe at n = 20,000: a product of 17 columns takes seconds there);
// --no-cv: without the trace control variate (r products of ∂K/∂σ for pivoted Cholesky: minutes on llvmpipe)
const call = !args.includes('--no-call');
const withCv = !args.includes('--no-cv');
const SIGMA = 0.1;
const log = (o) => console.log(JSON.stringify(o));
const ms = (t) => +(performance.now() - t).toFixed(1);

await setBackend('gpu');
const rand = mulberry32(11);
const x = { data: Float64Array.from({ length: 3 * n }, () => Math.fround(rand())), rows: n, cols: 3 };
const r2 = mulberry32(12);
const y = Float64Array.from({ length: n }, (_, i) =>
  Math.sin(2 * Math.PI * x.data[3 * i]) * Math.cos(2 * Math.PI * x.data[3 * i + 1]) + x.data[3 * i + 2] + Math.sqrt(noise) * (r2() + r2() + r2() - 1.5) * 2);
const block = new Matrix(n, probes + 1);
const r3 = mulberry32(13);
for (let i = 0; i < n; i++) for (let c = 0; c <= probes; c++) block.set(i, c, r3() - 0.5);

const results = {};
for (const choice of choices) {
  const K = gaussianKernel(x, { sigma: SIGMA, backend: 'gpu' });
  const A = K.shift(noise);
  const preconditionerOptions = rank === undefined ? undefined : { rank };
  try {
    let t = performance.now();
    const P = await K.preconditioner(noise, choice, preconditionerOptions);
    const buildMs = ms(t);
    await A.matmat(block); // compile, upload the points
    t = performance.now();
    await A.matmat(block);
    const productMs = ms(t);
    t = performance.now();
    await P.matmat(block);
    const applyMs = ms(t);
    t = performance.now();
    const sampled = await P.sampleProbes(probes, mulberry32(0));
    const probesMs = sampled === undefined ? null : ms(t);
    // the trace control variate tr(P⁻¹ ∂K/∂σ) the call computes where P's structure gives it (products with P's factor)
    t = performance.now();
    const cv = withCv ? await P.traceInverseProduct(parameterDerivativeOperator(K, 'sigma'), true) : undefined;
    const traceControlVariateMs = cv === undefined ? null : ms(t);
    if (!call) {
      log({ choice, n, noise, probes, preconditioner: String(P), buildMs, productMs, applyMs, probesMs, traceControlVariateMs });
      continue;
    }
    t = performance.now();
    const r = await gpNegativeLogMarginalLikelihood(K, y, noise, { method: 'slq', probes, preconditioner: choice, ...(preconditionerOptions ? { preconditionerOptions } : {}) });
    const callMs = ms(t);
    results[choice] = { callMs, buildMs };
    const its = r.iterations.probes;
    log({
      choice, n, noise, probes, preconditioner: String(P), buildMs, productMs, applyMs, probesMs, traceControlVariateMs, callMs, totalMs: +(buildMs + callMs).toFixed(1),
      iterations: { y: r.iterations.y, probesMax: Math.max(...its), probesMedian: [...its].sort((a, b) => a - b)[its.length >> 1] },
      estimatedCgMs: +((r.iterations.y) * (productMs + applyMs)).toFixed(0),
      value: +r.value.toPrecision(8), stderr: Object.fromEntries(Object.entries(r.stderr).map(([k, v]) => [k, +v.toPrecision(3)])),
      grad: Object.fromEntries(Object.entries(r.grad).map(([k, v]) => [k, +v.toPrecision(6)])),
    });
  } catch (error) {
    log({ choice, n, error: String(error?.message ?? error).slice(0, 300) });
  } finally {
    await K.dispose();
  }
}
const [a, b] = choices;
if (results[a] && results[b]) {
  log({ ratio: `${a} / ${b}`, call: +(results[a].callMs / results[b].callMs).toFixed(2), total: +((results[a].callMs + results[a].buildMs) / (results[b].callMs + results[b].buildMs)).toFixed(2) });
}
shutdownCpuPool();
process.exit(0);
