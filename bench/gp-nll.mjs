/**
 * The GP negative log marginal likelihood and its gradient (noise variance α, Gaussian bandwidth σ) at n = 20,000,
 * d = 3, α = 1e-2 (issue 18's must-show): lazylinalg's stochastic Lanczos quadrature route (one preconditioned block
 * CG on [y, z₁ … z_t]) against numpy's dense Cholesky route (value + analytic gradient, bench/gp_nll_numpy.py), same
 * data, one command; and the SLQ log-determinant against numpy's `slogdet` of the dense float64 K + αI.
 *
 *   npm run build && node bench/gp-nll.mjs [--n 20000] [--sigma 0.2] [--probes 16] [--rank 200] [--no-slogdet]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gaussianKernel, kernelOperator, Vi, Vj, gpNegativeLogMarginalLikelihood, shutdownCpuPool } from '../dist/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const n = opt('n', 20000);
const sigma = opt('sigma', 0.2);
const alpha = 1e-2;
const probes = opt('probes', 16);
const rank = opt('rank', 200);
const log = (o) => console.log(JSON.stringify(o));

const dir = mkdtempSync(join(tmpdir(), 'gp-nll-'));
const script = fileURLToPath(new URL('./gp_nll_numpy.py', import.meta.url));
const py = spawnSync('python3', [script, String(n), String(sigma), String(alpha), dir, ...(args.includes('--no-slogdet') ? ['--no-slogdet'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (py.status !== 0) throw new Error(`numpy side failed (${py.status})`);
const ref = JSON.parse(py.stdout.trim().split('\n').pop());
const X = new Float64Array(readFileSync(join(dir, 'x.bin')).buffer.slice(0));
const y = new Float64Array(readFileSync(join(dir, 'y.bin')).buffer.slice(0));
const points = { data: X, rows: n, cols: 3 };

const t0 = performance.now();
const K = gaussianKernel(points, { sigma });
// ∂K/∂σ = K ∘ r²/σ³, a kernel of its own
const dK = kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2)) * sqnorm2(x - y) / s^3', { x: Vi(points), y: Vj(points), s: sigma });
const r = await gpNegativeLogMarginalLikelihood(K, y, alpha, {
  method: 'slq', probes, seed: 0, preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank }, derivatives: { sigma: dK },
});
const seconds = (performance.now() - t0) / 1e3;
const rel = (a, b) => Math.abs(a - b) / Math.abs(b);
log({
  n, d: 3, sigma, alpha, probes, rank,
  numpy: { seconds: ref.seconds, value: ref.value, grad: ref.grad, slogdet: ref.slogdet, slogdetSeconds: ref.slogdetSeconds },
  lazylinalg: { seconds, value: r.value, logdet: r.logdet, grad: r.grad, stderr: r.stderr, reason: r.reason },
  speedup: ref.seconds / seconds,
  valueRelErr: rel(r.value, ref.value),
  gradRelErr: { noise: rel(r.grad.noise, ref.grad.noise), sigma: rel(r.grad.sigma, ref.grad.sigma) },
  logdetRelErr: ref.slogdet !== undefined ? rel(r.logdet, ref.slogdet) : undefined,
});
await shutdownCpuPool();
