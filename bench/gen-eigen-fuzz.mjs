/**
 * lobpcg's generalized problem A x = λ B x under fuzz (issue 16, "no silent wrong answers"): seeded random SPD B
 * (condition 1 to 10⁸), A symmetric (definite or indefinite, spread or clustered spectra), `largest` true/false,
 * k 1–6, n 12–160 (below 5k the dense path), with and without a preconditioner M (an SPD approximation of
 * (A − σI)⁻¹ from the wanted end σ, or a diagonal one), against dense generalized eigenvalues (B = L Lᵀ by Cholesky, then ml-matrix's symmetric EVD of
 * L⁻¹ A L⁻ᵀ). Every result with `converged: true` must hold
 *   - the wanted eigenvalues, each within the bound its residual allows: |λ − λ*| ≤ ‖r‖_{B⁻¹} ≤ ‖r‖ / √μ_min(B)
 *     (+ rounding: 1e-9 of the spectrum's scale times √cond(B));
 *   - B-orthonormal vectors: |VᵀBV − I| ≤ 1e-8·√cond(B);
 *   - residuals it reports that are its true ones: ‖A v − λ B v‖ recomputed (with constraints Y, a quarter of the
 *     cases: the problem on the B-orthogonal complement of span(Y), its residual without the part along B·Y) ≤ max(2·reported, reported + 10·(rounding:
 *     eps·(‖A‖ + |λ|·‖B‖)·‖v‖·√n));
 *   - every reported residual ≤ tol.
 * Results with `converged: false` are counted apart (honest), as are errors. Also: eigsh refuses M, Minv and the
 * modes 'buckling' / 'cayley' by name.
 *
 *   npm run build && node bench/gen-eigen-fuzz.mjs [--seed=S] [--cases=N] [--only=T] [--verbose]
 */
import { CholeskyDecomposition, EigenvalueDecomposition, inverse, Matrix, QrDecomposition } from 'ml-matrix';
import { aslinearoperator, eigsh, lobpcg, mulberry32 } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const seed = Number(flag('seed', 1));
const rand = mulberry32(seed);
const cases = Number(flag('cases', 150));
const verbose = args.includes('--verbose');
const only = flag('only', undefined); // run case T alone (the random stream of the earlier cases is still drawn)
const pick = (list) => list[Math.floor(rand() * list.length)];
const intIn = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

function orthogonal(n) {
  return new QrDecomposition(Matrix.from1DArray(n, n, Array.from({ length: n * n }, () => rand() - 0.5))).orthogonalMatrix;
}

/** Q diag(d) Qᵀ, exactly symmetric. */
function withSpectrum(d) {
  const Q = orthogonal(d.length);
  const A = Q.mmul(Matrix.diag(d)).mmul(Q.transpose());
  for (let i = 0; i < d.length; i++) for (let j = 0; j < i; j++) A.set(i, j, A.get(j, i));
  return A;
}

function spectrumA(kind, n) {
  return Array.from({ length: n }, (_, i) => {
    switch (kind) {
      case 'definite': return 0.1 + 10 * rand();
      case 'indefinite': return 10 * rand() - 5;
      case 'clustered': return (i % 4) + 1e-3 * rand();
      case 'graded': return Math.exp(-i / 6) * (rand() < 0.5 ? -1 : 1);
      default: return i + 1;
    }
  });
}

/** Generalized eigenvalues of (A, B), ascending. */
function reference(A, B) {
  const Linv = inverse(new CholeskyDecomposition(B).lowerTriangularMatrix);
  const C = Linv.mmul(A).mmul(Linv.transpose());
  for (let i = 0; i < C.rows; i++) for (let j = 0; j < i; j++) C.set(i, j, (C.set(j, i, 0.5 * (C.get(i, j) + C.get(j, i))), C.get(j, i)));
  return [...new EigenvalueDecomposition(C, { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
}

const tally = { cases: 0, converged: 0, notConverged: 0, errors: [], wrong: [], worst: { eigenvalue: 0, orthonormality: 0, residualClaim: 0 } };

for (let t = 0; t < cases; t++) {
  const k = intIn(1, 6);
  const n = rand() < 0.2 ? intIn(k + 2, 5 * k) : intIn(Math.max(12, 5 * k), 160);
  const kindA = pick(['definite', 'indefinite', 'clustered', 'graded', 'ladder']);
  const condB = pick([1, 10, 1e4, 1e8]);
  const muB = Array.from({ length: n }, (_, i) => Math.exp(Math.log(condB) * (n === 1 ? 0 : i / (n - 1))) * (0.5 + 0.5 * rand()));
  const lamA = spectrumA(kindA, n);
  const A = withSpectrum(lamA);
  const B = withSpectrum(muB);
  const largest = rand() < 0.5;
  const precondition = pick(['none', 'none', 'inverse', 'diagonal']);
  const tol = pick([1e-6, 1e-8]);
  const label = { t, n, k, kindA, condB, largest, precondition, tol };
  if (only !== undefined && t !== Number(only)) {
    Array.from({ length: n * k }, () => rand()); // X0's draws
    continue;
  }
  tally.cases++;
  let ref;
  try {
    ref = reference(A, B);
  } catch (e) {
    continue; // the reference itself failed (never seen): not lobpcg's case
  }
  const scale = Math.max(...ref.map(Math.abs));
  const options = { B: aslinearoperator(B.to2DArray()), largest, tol, maxiter: 400 };
  if (precondition === 'inverse') {
    // (|A − σI| + δI)⁻¹ from A's own eigenvalues, σ at the wanted end of A's spectrum: SPD, and what a good
    // preconditioner approximates (the inverse of A shifted to be definite from that end)
    const Q = new EigenvalueDecomposition(A, { assumeSymmetric: true });
    const sigma = largest ? Math.max(...lamA) : Math.min(...lamA);
    const d = Q.realEigenvalues.map((v) => 1 / (Math.abs(v - sigma) + 1e-2 * scale));
    options.M = aslinearoperator(Q.eigenvectorMatrix.mmul(Matrix.diag(d)).mmul(Q.eigenvectorMatrix.transpose()).to2DArray());
  } else if (precondition === 'diagonal') {
    options.M = aslinearoperator(Matrix.diag(Array.from({ length: n }, (_, i) => 1 / (Math.abs(A.get(i, i)) + 1e-3 * scale))).to2DArray());
  }
  const X0 = Matrix.from1DArray(n, k, Array.from({ length: n * k }, () => rand() - 0.5));
  // constraints Y (n×p) in a quarter of the cases: the problem on the B-orthogonal complement of span(Y)
  const p = rand() < 0.25 && n > 5 * k + 4 ? intIn(1, 3) : 0;
  const Y = p ? Matrix.from1DArray(n, p, Array.from({ length: n * p }, () => rand() - 0.5)) : undefined;
  if (Y) options.Y = Y;
  label.constraints = p;
  if (Y) {
    // a basis Z of {z : Yᵀ B z = 0}: the last n − p columns of the QR of [B Y, random n×(n − p)]
    const full = new Matrix(n, n);
    full.setSubMatrix(B.mmul(Y), 0, 0);
    full.setSubMatrix(Matrix.from1DArray(n, n - p, Array.from({ length: n * (n - p) }, () => rand() - 0.5)), 0, p);
    const Z = new QrDecomposition(full).orthogonalMatrix.subMatrix(0, n - 1, p, n - 1);
    const sym = (M) => M.add(M.transpose()).div(2);
    ref = reference(sym(Z.transpose().mmul(A).mmul(Z)), sym(Z.transpose().mmul(B).mmul(Z)));
  }
  let r;
  try {
    r = await lobpcg(aslinearoperator(A.to2DArray()), X0, options);
  } catch (e) {
    tally.errors.push({ ...label, message: String(e?.message ?? e).slice(0, 200) });
    continue;
  }
  if (!r.converged) {
    tally.notConverged++;
    if (verbose) console.error(JSON.stringify({ ...label, converged: false, iterations: r.iterations }));
    continue;
  }
  tally.converged++;
  const want = (largest ? ref.slice(ref.length - k) : ref.slice(0, k));
  const got = Array.from(r.eigenvalues);
  const muMin = Math.min(...new EigenvalueDecomposition(B, { assumeSymmetric: true }).realEigenvalues);
  const V = r.eigenvectors;
  const G = V.transpose().mmul(B).mmul(V);
  let orth = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) orth = Math.max(orth, Math.abs(G.get(i, j) - (i === j ? 1 : 0)));
  let R = A.mmul(V).sub(B.mmul(V).mmul(Matrix.diag(got)));
  if (Y) {
    // the residual of the problem on the B-orthogonal complement of span(Y): R − BY (YᵀBY)⁻¹ Yᵀ R
    const BY = B.mmul(Y);
    R = R.sub(BY.mmul(inverse(Y.transpose().mmul(BY))).mmul(Y.transpose().mmul(R)));
  }
  const trueRes = Array.from({ length: k }, (_, j) => Math.hypot(...R.getColumn(j)));
  const rounding = 1e-9 * scale * Math.sqrt(condB);
  const normA = Math.max(...lamA.map(Math.abs));
  const normB = Math.max(...muB);
  const problems = [];
  got.forEach((g, i) => {
    const bound = 2 * Math.max(trueRes[i], r.residualNorms[i]) / Math.sqrt(muMin) + rounding;
    const e = Math.abs(g - want[i]);
    tally.worst.eigenvalue = Math.max(tally.worst.eigenvalue, e / bound);
    if (!(e <= bound)) problems.push(`λ[${i}] = ${g} but the wanted one is ${want[i]} (|Δ| ${e.toExponential(2)} > bound ${bound.toExponential(2)})`);
    const claimed = r.residualNorms[i];
    tally.worst.residualClaim = Math.max(tally.worst.residualClaim, trueRes[i] / Math.max(claimed, 1e-300));
    if (!(claimed <= tol)) problems.push(`residualNorms[${i}] = ${claimed} > tol with converged: true`);
    // the rounding of a residual computed here or there: eps·(‖A‖ + |λ|·‖B‖)·‖v‖·√n
    const floor = 2.2e-16 * (normA + Math.abs(g) * normB) * Math.hypot(...V.getColumn(i)) * Math.sqrt(n);
    if (!(trueRes[i] <= Math.max(2 * claimed, claimed + 10 * floor))) problems.push(`true residual ${trueRes[i].toExponential(2)} but reported ${claimed.toExponential(2)}`);
  });
  if (Y) {
    const C = Y.transpose().mmul(B).mmul(V);
    const off = Math.max(...C.to1DArray().map(Math.abs)) / Math.max(...Y.transpose().mmul(B).to1DArray().map(Math.abs));
    if (!(off <= 1e-8 * Math.sqrt(condB))) problems.push(`|Yᵀ B V| / |Yᵀ B| = ${off.toExponential(2)}: not B-orthogonal to the constraints`);
  }
  tally.worst.orthonormality = Math.max(tally.worst.orthonormality, orth / (1e-8 * Math.sqrt(condB)));
  if (!(orth <= 1e-8 * Math.sqrt(condB))) problems.push(`|VᵀBV − I| = ${orth.toExponential(2)}`);
  if (problems.length) tally.wrong.push({ ...label, iterations: r.iterations, problems, want: want.map((v) => +v.toPrecision(8)), got: got.map((v) => +v.toPrecision(8)) });
  if (verbose) console.error(JSON.stringify({ ...label, iterations: r.iterations, problems: problems.length }));
}

// eigsh: the generalized problem is refused by name, never ignored
const refusals = [];
const S = aslinearoperator(withSpectrum(Array.from({ length: 30 }, (_, i) => i + 1)).to2DArray());
for (const [key, value, word] of [['M', S, 'M'], ['Minv', S, 'Minv'], ['mode', 'buckling', 'buckling'], ['mode', 'cayley', 'cayley']]) {
  try {
    await eigsh(S, 2, { [key]: value });
    refusals.push({ key, value: String(value), refused: false });
  } catch (e) {
    const message = String(e?.message ?? e);
    refusals.push({ key, refused: true, named: message.includes(word), message: message.slice(0, 120) });
  }
}
const refusalBugs = refusals.filter((r) => !r.refused || !r.named);
const worst = Object.fromEntries(Object.entries(tally.worst).map(([key, v]) => [key, +v.toExponential(2)]));
console.log(JSON.stringify({ seed, ...tally, worst, wrongCount: tally.wrong.length, eigshRefusals: refusals, refusalBugs: refusalBugs.length }, null, 1));
process.exit(tally.wrong.length || refusalBugs.length ? 1 : 0);
