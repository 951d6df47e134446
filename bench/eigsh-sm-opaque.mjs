/**
 * eigsh 'SM' on opaque operators (no dense form: Lanczos on A itself, which can miss interior eigenvalues of an
 * indefinite A — issue 16, "no silent wrong answers"): A = H₂H₁ diag(λ) H₁H₂ (two seeded Householder reflections,
 * applied as products only), k = 4 smallest in magnitude, against the λ themselves. Spectra: 'uniform' λ in [−5, 5]
 * (clustered at 0: Lanczos rarely converges, EigshNoConvergence expected) and 'gapped' (8 eigenvalues in
 * [−0.5, 0.5], the rest ±[1, 5]). Counts right answers, wrong ones reported converged, and honest errors.
 *
 *   npm run build && node bench/eigsh-sm-opaque.mjs [uniform|gapped] [seeds=20] [n0=1100] [maxiter]
 */
import { eigsh, mulberry32, aslinearoperator, EigshNoConvergence } from '../dist/index.js';

const [spectrum = 'gapped', seedsArg = '20', n0Arg = '1100', maxiterArg] = process.argv.slice(2);
const k = 4;
const tally = { right: 0, wrong: 0, errors: 0, wrongSeeds: [] };
for (let seed = 1; seed <= Number(seedsArg); seed++) {
  const rand = mulberry32(seed);
  const n = Number(n0Arg) + (seed % 40);
  const lam = Float64Array.from({ length: n }, (_, i) => (spectrum === 'uniform' ? rand() * 10 - 5
    : i < 8 ? rand() - 0.5 : (rand() < 0.5 ? -1 : 1) * (1 + 4 * rand())));
  const hs = [0, 1].map(() => {
    const v = Float64Array.from({ length: n }, () => rand() - 0.5);
    const s = Math.hypot(...v);
    return v.map((x) => x / s);
  });
  const reflect = (v, x) => {
    let d = 0;
    for (let i = 0; i < n; i++) d += v[i] * x[i];
    return x.map((t, i) => t - 2 * d * v[i]);
  };
  const A = aslinearoperator({
    shape: [n, n], symmetric: true,
    matvec: (x) => reflect(hs[0], reflect(hs[1], reflect(hs[1], reflect(hs[0], Float64Array.from(x))).map((t, i) => t * lam[i]))),
  });
  const want = Array.from(lam).sort((a, b) => Math.abs(a) - Math.abs(b)).slice(0, k).sort((a, b) => a - b);
  try {
    const r = await eigsh(A, k, { which: 'SM', symmetric: true, ...(maxiterArg ? { maxiter: Number(maxiterArg) } : {}) });
    const err = Math.max(...Array.from(r.eigenvalues, (v, i) => Math.abs(v - want[i])));
    if (err > 1e-8) {
      tally.wrong++;
      tally.wrongSeeds.push({ seed, got: Array.from(r.eigenvalues), want });
    } else tally.right++;
  } catch (e) {
    if (!(e instanceof EigshNoConvergence)) throw e;
    tally.errors++;
  }
}
console.log(JSON.stringify({ spectrum, seeds: Number(seedsArg), n0: Number(n0Arg), ...tally }));
