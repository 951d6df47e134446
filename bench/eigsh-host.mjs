/**
 * eigsh's host side at n = 2²⁰ (issue 21, run 2), without a GPU: eigsh(D, 5, tol 1e-6) on a diagonal stand-in whose
 * top eigenvalues are those of the Gaussian kernel (σ = 0.1, x uniform in [0,1]³) scaled to n — the 64 below are
 * numpy's eigh of that kernel at n = 3000, times 2²⁰/3000; past them the spectrum decays exponentially. The products
 * cost ~ms, so the seconds are Lanczos' own work (orthogonalisation, Ritz vectors). Then scipy's eigsh (ARPACK) on
 * the same diagonal, same k, tol and ncv = 20, in the same run: its matvec count and seconds beside ours. Host ms per
 * restart = (seconds − the products' seconds, timed in the run) / restarts (the first restart's cycle included). With LAZYLINALG_LIB_BEFORE set to another
 * build's index.js (e.g. main's), that build runs first on the same diagonal: before and after in one run.
 *
 *   npm run build && node bench/eigsh-host.mjs [--n=1048576]
 *   LAZYLINALG_LIB_BEFORE=/path/to/main/dist/index.js node bench/eigsh-host.mjs
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiagonalOperator, eigsh, mulberry32 } from '../dist/index.js';

const n = Number(process.argv.find((a) => a.startsWith('--n='))?.slice(4) ?? 2 ** 20);
const TOP = [15616.6,14123.2,13819.2,13386.6,12548.2,11922.3,11890.4,11240.1,11069.4,10780.6,10426.5,10384.7,10198,10080,9784.57,9708.9,9394.35,9248.27,8998.01,8864.88,8746.04,8493.49,8230.34,8187.93,8014.7,7848.45,7672.92,7629.37,7473.13,7369.73,7294.13,7217.8,7158.91,6958.05,6904.42,6822.02,6756.44,6636.38,6492.92,6484.07,6258.21,6192.54,6136.86,6020.82,5923.59,5887.87,5758.54,5726.77,5658.99,5637.8,5634.92,5509.94,5473.82,5348.31,5315.7,5288.84,5147.34,5100.02,5084.14,4954.09,4874.31,4784.79,4745.71,4678.11];
const d = new Float64Array(n);
for (let i = 0; i < n; i++) d[i] = i < TOP.length ? TOP[i] : TOP[TOP.length - 1] * Math.exp(-(i - TOP.length) / 3000);
const rand = mulberry32(5); // shuffled, so the start vector's components are not ordered by eigenvalue
for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [d[i], d[j]] = [d[j], d[i]]; }
/**
 * eigsh(D, 5) with one library's build: seconds, matvecs, restarts, and the host ms per restart — the seconds less the
 * products', timed inside the run (D's product hook wrapped).
 */
async function run(lib) {
  const D = new lib.DiagonalOperator(d);
  const product = D._matvec;
  let productMs = 0;
  D._matvec = async function (x) {
    const t0 = performance.now();
    const y = await product.call(this, x);
    productMs += performance.now() - t0;
    return y;
  };
  const t = performance.now();
  const e = await lib.eigsh(D, 5, { tol: 1e-6, seed: 1 });
  const ms = performance.now() - t;
  return {
    seconds: +(ms / 1e3).toFixed(3), matvecs: e.matvecs, restarts: e.iterations, productSeconds: +(productMs / 1e3).toFixed(3),
    hostMsPerRestart: +((ms - productMs) / e.iterations).toFixed(0), eigenvalues: Array.from(e.eigenvalues, (v) => +v.toPrecision(10)),
  };
}
const beforeLib = process.env.LAZYLINALG_LIB_BEFORE;
const before = beforeLib ? await run(await import(pathToFileURL(beforeLib).href)) : undefined;
const ours = await run({ DiagonalOperator, eigsh });
const file = join(tmpdir(), `eigsh-host-${process.pid}.f64`);
writeFileSync(file, Buffer.from(d.buffer));
const py = `
import sys, time, numpy as np, scipy.sparse.linalg as sl
d = np.fromfile(sys.argv[1], dtype='<f8'); count = [0]
def mv(x): count[0] += 1; return d * x.ravel()
A = sl.LinearOperator((d.size, d.size), matvec=mv, dtype=np.float64)
t = time.perf_counter(); w = sl.eigsh(A, k=5, tol=1e-6, ncv=20, v0=np.random.default_rng(1).random(d.size) - 0.5, return_eigenvectors=True)[0]
print(time.perf_counter() - t, count[0], *np.sort(w))`;
const out = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
const [sec, mv, ...ev] = out.stdout.trim().split(/\s+/).map(Number);
const scipy = out.status === 0 ? { seconds: +sec.toFixed(3), matvecs: mv, eigenvalues: ev.map((v) => +v.toPrecision(10)) } : { error: out.stderr.slice(-300) };
const ratio = (a, b) => (a && b ? +(a / b).toFixed(2) : undefined);
console.log(JSON.stringify({ n, before, ours, scipy, 'scipy/ours': ratio(scipy.seconds, ours.seconds), 'before/ours': ratio(before?.seconds, ours.seconds) }));
