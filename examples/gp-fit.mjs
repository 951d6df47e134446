/**
 * Fit a Gaussian process's bandwidth σ and noise variance s by maximum marginal likelihood: synthetic data drawn
 * from a GP with known σ and s, then Adam on (log σ, log s) with the gradient of `gpNegativeLogMarginalLikelihood`
 * (∂/∂log θ = θ·∂/∂θ). Prints the start, the end and the iterations.
 *
 *   npm run build && node examples/gp-fit.mjs [--n 400] [--slq]
 * --slq takes the stochastic Lanczos quadrature route (the one used for large n) instead of the dense Cholesky one.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { gaussianKernel, gpNegativeLogMarginalLikelihood, mulberry32, shutdownCpuPool } from '../dist/index.js';

const args = process.argv.slice(2);
const n = args.includes('--n') ? Number(args[args.indexOf('--n') + 1]) : 400;
const method = args.includes('--slq') ? 'slq' : 'cholesky';
const truth = { sigma: 0.25, noise: 0.01 };

// Data: x uniform in [0, 1]², y = f(x) + ε with f ~ GP(0, k_σ), ε ~ N(0, s): y = L g, L Lᵀ = K + s·I.
const rng = mulberry32(7);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const x = Array.from({ length: n }, () => [rng(), rng()]);
const Ktrue = (await gaussianKernel(x, { sigma: truth.sigma }).toDense()).add(Matrix.eye(n).mul(truth.noise));
const L = new CholeskyDecomposition(Ktrue).lowerTriangularMatrix;
const y = Float64Array.from(L.mmul(Matrix.columnVector(Array.from({ length: n }, gauss))).getColumn(0));

async function objective(logTheta) {
  const [sigma, noise] = logTheta.map(Math.exp);
  // the probes and their seed are SLQ's options: the exact Cholesky route takes none (and refuses them by name)
  const r = await gpNegativeLogMarginalLikelihood(gaussianKernel(x, { sigma }), y, noise, method === 'slq' ? { method, probes: 32, seed: 1 } : { method });
  return { value: r.value, grad: [sigma * r.grad.sigma, noise * r.grad.noise] };
}

// Adam (Kingma & Ba) on the log-parameters; stops when the log-space gradient is small relative to n.
const start = { sigma: 1.0, noise: 0.3 };
let theta = [Math.log(start.sigma), Math.log(start.noise)];
const m = [0, 0];
const v = [0, 0];
const [lr, b1, b2] = [0.1, 0.9, 0.999];
let first;
let last;
let it = 0;
for (; it < 200; it++) {
  last = await objective(theta);
  first ??= last;
  if (Math.hypot(...last.grad) < 1e-3 * n) break;
  for (let k = 0; k < 2; k++) {
    const g = last.grad[k];
    m[k] = b1 * m[k] + (1 - b1) * g;
    v[k] = b2 * v[k] + (1 - b2) * g * g;
    theta[k] -= (lr * (m[k] / (1 - b1 ** (it + 1)))) / (Math.sqrt(v[k] / (1 - b2 ** (it + 1))) + 1e-8);
  }
}
const [sigma, noise] = theta.map(Math.exp);
console.log(JSON.stringify({
  n, method, truth, start: { ...start, nll: first.value },
  end: { sigma, noise, nll: last.value }, iterations: it,
  relativeError: { sigma: Math.abs(sigma - truth.sigma) / truth.sigma, noise: Math.abs(noise - truth.noise) / truth.noise },
}));
await shutdownCpuPool();
