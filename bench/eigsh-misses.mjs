/**
 * How often eigsh returns a wrong wanted set as converged (issue 16: no silent wrong answers): seeded random symmetric
 * matrices Q·diag(λ)·Qᵀ with λ uniform in [−5, 5] (indefinite), n = 60 + seed mod 40, k = 4, against ml-matrix's
 * dense eigenvalues. Counts wrong answers (reported converged, a wanted eigenvalue missing), honest errors
 * (EigshNoConvergence) and right answers, for one `which` and `ncv` (default: eigsh's own), on this build or another.
 *
 *   npm run build && node bench/eigsh-misses.mjs [which=SM] [ncv=default] [seeds=400] [lib=../dist/index.js]
 *   e.g. node bench/eigsh-misses.mjs LM 6        (little room: ncv = k + 2)
 */
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';

const [which = 'SM', ncvArg = 'default', seedsArg = '400', lib = '../dist/index.js'] = process.argv.slice(2);
const { eigsh, mulberry32, aslinearoperator } = await import(lib);
const key = { LM: (l) => -Math.abs(l), SM: (l) => Math.abs(l), LA: (l) => -l, SA: (l) => l }[which];
if (!key) throw new Error(`which must be LM, SM, LA or SA, got ${which}`);
const k = 4;
const tally = { right: 0, wrong: 0, errors: 0, wrongSeeds: [] };
for (let seed = 1; seed <= Number(seedsArg); seed++) {
  const rand = mulberry32(seed);
  const n = 60 + (seed % 40);
  const lam = Array.from({ length: n }, () => rand() * 10 - 5);
  const Q = new QrDecomposition(Matrix.rand(n, n, { random: rand })).orthogonalMatrix;
  let S = Q.mmul(Matrix.diag(lam)).mmul(Q.transpose());
  S = S.add(S.transpose()).div(2);
  const dense = [...new EigenvalueDecomposition(S, { assumeSymmetric: true }).realEigenvalues];
  const want = dense.sort((a, b) => key(a) - key(b)).slice(0, k).sort((a, b) => a - b);
  try {
    const r = await eigsh(aslinearoperator(S.to2DArray()), k, { which, ...(ncvArg === 'default' ? {} : { ncv: Number(ncvArg) }) });
    const err = Math.max(...Array.from(r.eigenvalues, (v, i) => Math.abs(v - want[i])));
    if (err > 1e-8) {
      tally.wrong++;
      tally.wrongSeeds.push(seed);
    } else tally.right++;
  } catch (error) {
    if (error?.name !== 'EigshNoConvergence') throw error;
    tally.errors++;
  }
}
console.log(JSON.stringify({ which, ncv: ncvArg, k, lib, ...tally }));
