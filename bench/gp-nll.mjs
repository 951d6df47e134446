/**
 * The GP negative log marginal likelihood and its gradient (noise variance α, Gaussian bandwidth σ) at n = 20,000,
 * d = 3, α = 1e-2 (issue 18's must-show): lazylinalg's stochastic Lanczos quadrature route (one preconditioned block
 * CG on [y, z₁ … z_t]) against numpy's dense Cholesky route (value + analytic gradient, bench/gp_nll_numpy.py), same
 * data, one command; and the SLQ log-determinant against numpy's `slogdet` of the dense float64 K + αI.
 *
 * LAZYLINALG_LIB=/path/to/dist/index.js runs another build (e.g. main's) for a before/after on the same reference.
 *   npm run build && node bench/gp-nll.mjs [--n 20000] [--sigma 0.2] [--probes 16] [--rank 500] [--steps S] [--probe-rtol R] [--cv-auto] [--nystrom] [--no-slogdet] [--ref DIR]
 * --ref DIR reuses the data and numpy's figures of an earlier run (its temporary folder, printed as "ref"): numpy's side
 * takes minutes at n = 20,000 on a small machine, so that lazylinalg's options can be varied against one reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
const { gaussianKernel, gpNegativeLogMarginalLikelihood, shutdownCpuPool } = await import(process.env.LAZYLINALG_LIB ?? new URL('../dist/index.js', import.meta.url).href);

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const n = opt('n', 20000);
const sigma = opt('sigma', 0.2);
const alpha = 1e-2;
const probes = opt('probes', 16);
const rank = opt('rank', 500);
const lanczosSteps = opt('steps', undefined);
const probeRtol = opt('probe-rtol', undefined); // the library's default (1e-4) where omitted
const traceControlVariate = args.includes('--cv-auto') ? 'auto' : 'all';
const preconditioner = args.includes('--nystrom') ? 'nystrom' : 'pivoted-cholesky';
const log = (o) => console.log(JSON.stringify(o));

const refAt = args.includes('--ref') ? args[args.indexOf('--ref') + 1] : undefined;
const dir = refAt ?? mkdtempSync(join(tmpdir(), 'gp-nll-'));
if (!refAt) {
  const script = fileURLToPath(new URL('./gp_nll_numpy.py', import.meta.url));
  const py = spawnSync('python3', [script, String(n), String(sigma), String(alpha), dir, ...(args.includes('--no-slogdet') ? ['--no-slogdet'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (py.status !== 0) throw new Error(`numpy side failed (${py.status})`);
}
const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8'));
if (ref.n !== n) throw new Error(`--ref ${dir} holds n = ${ref.n}, not ${n}`);
const X = new Float64Array(readFileSync(join(dir, 'x.bin')).buffer.slice(0));
const y = new Float64Array(readFileSync(join(dir, 'y.bin')).buffer.slice(0));
const points = { data: X, rows: n, cols: 3 };

const t0 = performance.now();
const K = gaussianKernel(points, { sigma });
const r = await gpNegativeLogMarginalLikelihood(K, y, alpha, {
  method: 'slq', probes, seed: 0, lanczosSteps, probeRtol, preconditioner, preconditionerOptions: preconditioner === 'nystrom' ? { method: 'randomized', ...(args.includes('--rank') ? { rank } : {}) } : { rank }, traceControlVariate,
});
const seconds = (performance.now() - t0) / 1e3;
const rel = (a, b) => Math.abs(a - b) / Math.abs(b);
log({
  n, d: 3, sigma, alpha, probes, preconditioner, rank, lanczosSteps, probeRtol, traceControlVariate, ref: dir,
  numpy: { seconds: ref.seconds, value: ref.value, grad: ref.grad, slogdet: ref.slogdet, slogdetSeconds: ref.slogdetSeconds },
  lazylinalg: { seconds, value: r.value, logdet: r.logdet, iterations: r.iterations, grad: r.grad, stderr: r.stderr, reason: r.reason, logdetStderr: 2 * r.stderr.value },
  speedup: ref.seconds / seconds,
  valueRelErr: rel(r.value, ref.value),
  gradRelErr: { noise: rel(r.grad.noise, ref.grad.noise), sigma: rel(r.grad.sigma, ref.grad.sigma) },
  logdetRelErr: ref.slogdet !== undefined ? rel(r.logdet, ref.slogdet) : undefined,
});
await shutdownCpuPool();
