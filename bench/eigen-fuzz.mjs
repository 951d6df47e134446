/**
 * Eigensolver answers against dense eigenvalues (ml-matrix's EVD) on seeded random symmetric matrices Q·diag(λ)·Qᵀ:
 * does a solver that reports success return the wanted eigenvalues? Spectra: uniform in [−5, 5], a few large over a
 * bulk, geometric decay, alternating signs, and (eigsh only, `--repeats`) integers with multiplicities — which one
 * Krylov space cannot hold more than once (see docs/solvers.md). Errors (no convergence, stagnated inner solves) are
 * counted apart: they are honest; a wrong answer reported as converged is what this looks for.
 *
 *   npm run build && node bench/eigen-fuzz.mjs eigsh|shift-invert|lobpcg [--seed=S] [--cases=N] [--ncv=default|random] [--repeats] [--verbose]
 *   (--verbose: each refusal on stderr)
 *   lobpcg --starts=invariant: start blocks spanned by eigenvectors of unwanted eigenvalues (exactly, or with 1e-8 of
 *   noise), where LOBPCG's residuals are 0 (or tiny) before it has seen a wanted direction
 */
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
const { aslinearoperator, eigsh, lobpcg, mulberry32 } = await import(process.env.LAZYLINALG_LIB ?? "../dist/index.js");

const [mode = 'eigsh', ...args] = process.argv.slice(2);
const flag = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rand = mulberry32(Number(flag('seed', 1)));
const cases = Number(flag('cases', 200));
const kinds = ['uniform', 'spiked', 'geometric', 'alternating', ...(args.includes('--repeats') ? ['repeated'] : [])];

function spectrum(kind, n) {
  return Array.from({ length: n }, (_, i) => {
    switch (kind) {
      case 'uniform': return rand() * 10 - 5;
      case 'spiked': return i < 3 ? 10 : rand();
      case 'geometric': return Math.exp(-i / 8) * (1 + 0.01 * rand());
      case 'alternating': return (i % 2 ? 1 : -1) * (1 + i * 0.05 + 0.01 * rand());
      default: return Math.floor(rand() * 5);
    }
  });
}

function matrix(lam) {
  const n = lam.length;
  const Q = new QrDecomposition(Matrix.rand(n, n, { random: rand })).orthogonalMatrix;
  const M = Q.mmul(Matrix.diag(lam)).mmul(Q.transpose());
  return M.add(M.transpose()).div(2);
}

/** The k wanted eigenvalues of `values` by `key` (larger key = more wanted), ascending. */
const wanted = (values, k, key) => values.slice().sort((a, b) => key(b) - key(a)).slice(0, k).sort((a, b) => a - b);
const KEYS = { LM: Math.abs, SM: (l) => -Math.abs(l), LA: (l) => l, SA: (l) => -l };

/** k eigenvectors of eigenvalues outside the wanted k (seeded choice), exactly or with 1e-8 of seeded noise. */
function unwantedStart(evd, ref, k, largest) {
  const order = ref.map((_, i) => i).sort((a, b) => (largest ? ref[a] - ref[b] : ref[b] - ref[a])); // least wanted first
  const pool = order.slice(0, ref.length - k);
  const cols = Array.from({ length: k }, () => pool.splice(Math.floor(rand() * pool.length), 1)[0]);
  const V = evd.eigenvectorMatrix;
  const noise = rand() < 0.5 ? 0 : 1e-8;
  return new Matrix(ref.length, k).apply(function (i, j) { this.set(i, j, V.get(i, cols[j]) + noise * (rand() - 0.5)); });
}

const tally = { cases: 0, errors: 0, wrong: [] };
for (let t = 0; t < cases; t++) {
  const kind = kinds[t % kinds.length];
  const n = 10 + Math.floor(rand() * 90);
  const lam = spectrum(kind, n);
  const S = matrix(lam);
  const evd = new EigenvalueDecomposition(S);
  const ref = Array.from(evd.realEigenvalues);
  const k = 1 + Math.floor(rand() * Math.min(5, Math.floor(n / 4)));
  const op = aslinearoperator(S.to2DArray());
  let want;
  let run;
  let label;
  if (mode === 'eigsh') {
    const which = ['LM', 'SM', 'LA', 'SA', 'BE'][Math.floor(rand() * 5)];
    const ncv = flag('ncv', 'random') === 'default' || rand() < 0.5 ? undefined : Math.min(n, k + 1 + Math.floor(rand() * 15));
    label = { which, ncv };
    want = which === 'BE' ? [...wanted(ref, Math.floor(k / 2), KEYS.SA), ...wanted(ref, k - Math.floor(k / 2), KEYS.LA)].sort((a, b) => a - b) : wanted(ref, k, KEYS[which]);
    run = () => eigsh(op, k, { which, ncv, method: 'lanczos', maxiter: 3000 });
  } else if (mode === 'shift-invert') {
    const lo = Math.min(...ref);
    const sigma = lo + (Math.max(...ref) - lo) * rand();
    const sigmaSolver = rand() < 0.5 ? 'auto' : 'minres';
    label = { sigma, sigmaSolver };
    want = wanted(ref, k, (l) => Math.abs(1 / (l - sigma)));
    run = () => eigsh(op, k, { sigma, sigmaSolver, maxiter: 2000 });
  } else if (mode === 'lobpcg') {
    const largest = rand() < 0.5;
    label = { largest };
    want = wanted(ref, k, largest ? KEYS.LA : KEYS.SA);
    const X = flag('starts', 'random') === 'invariant' ? unwantedStart(evd, ref, k, largest) : Matrix.rand(n, k, { random: rand });
    label.starts = flag('starts', 'random');
    run = async () => {
      const r = await lobpcg(op, X, { largest, maxiter: 500, tol: 1e-8 });
      if (!r.converged) throw new Error('not converged (reported)');
      return r;
    };
  } else throw new Error(`unknown mode ${mode}: eigsh, shift-invert or lobpcg`);
  tally.cases++;
  let got;
  try {
    got = Array.from((await run()).eigenvalues).sort((a, b) => a - b);
  } catch (e) {
    tally.errors++;
    if (args.includes('--verbose')) console.error(JSON.stringify({ t, kind, n, k, ...label, refused: String(e.message).slice(0, 200), want, partial: e.eigenvalues && Array.from(e.eigenvalues) }));
    continue;
  }
  const err = Math.max(...want.map((w, i) => Math.abs(w - got[i]))) / Math.max(...ref.map(Math.abs));
  if (!(err < 1e-7)) tally.wrong.push({ t, kind, n, k, ...label, err: +err.toExponential(2), want: want.map((v) => +v.toFixed(6)), got: got.map((v) => +v.toFixed(6)) });
}
console.log(JSON.stringify({ mode, ...tally, wrongCount: tally.wrong.length }, null, 1));
