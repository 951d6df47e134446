// Small-problem fixed costs (issue 16 item 19): eigsh(K, 5) of a Gaussian kernel (σ = 2) on 1,797 points in d = 64
// — scikit-learn's digits scaled to [0, 1] when sklearn is installed, else seeded uniform points — end to end in a
// fresh process each time: ours (import excluded: operator, first product, Lanczos) against scipy's dense K
// (cdist + exp) and ARPACK eigsh (imports excluded). Runs each REPS times alternately, prints medians and the ratio.
// Usage: npm run build && node bench/small-eigsh.mjs [reps]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const reps = Number(process.argv[2] ?? 5);
const lib = process.env.LAZYLINALG_LIB ?? new URL('../dist/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'small-eigsh-'));
const file = join(dir, 'points.f64');

let source = 'digits';
try {
  execFileSync('python3', ['-c', `from sklearn.datasets import load_digits\n(load_digits().data / 16).astype('float64').tofile(${JSON.stringify(file)})`]);
} catch {
  source = 'uniform';
  let s = 7;
  const r = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  writeFileSync(file, Buffer.from(Float64Array.from({ length: 1797 * 64 }, r).buffer));
}

const ours = `
const { readFileSync } = await import('node:fs');
const { gaussianKernel, aslinearoperator, shutdownCpuPool } = await import(${JSON.stringify(lib)});
const data = new Float64Array(readFileSync(${JSON.stringify(file)}).buffer.slice(0));
const t = performance.now();
const K = aslinearoperator(gaussianKernel({ data, rows: data.length / 64, cols: 64 }, { sigma: 2 }));
const r = await K.eigsh(5);
const seconds = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds, eigenvalues: Array.from(r.eigenvalues) }));
await shutdownCpuPool();`;

const scipy = `
import json, time, numpy as np
from scipy.sparse.linalg import eigsh
from scipy.spatial.distance import cdist
X = np.fromfile(${JSON.stringify(file)}).reshape(-1, 64)
t = time.perf_counter()
K = np.exp(-cdist(X, X, 'sqeuclidean') / (2 * 2.0 ** 2))
w = eigsh(K, 5)[0]
print(json.dumps({'seconds': time.perf_counter() - t, 'eigenvalues': sorted(w.tolist())}))`;

const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n').pop());
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const times = { ours: [], scipy: [] };
let last;
for (let i = 0; i < reps; i++) {
  const a = run(process.execPath, ['--input-type=module', '-e', ours]);
  times.ours.push(a.seconds);
  let b;
  try {
    b = run('python3', ['-c', scipy]);
    times.scipy.push(b.seconds);
  } catch {
    b = undefined;
  }
  last = { ours: a.eigenvalues, scipy: b?.eigenvalues };
}
const result = {
  source, n: 1797, d: 64, reps,
  ours_s: times.ours.map((t) => +t.toFixed(3)), scipy_s: times.scipy.map((t) => +t.toFixed(3)),
  ours_median_s: +median(times.ours).toFixed(3),
  scipy_median_s: times.scipy.length ? +median(times.scipy).toFixed(3) : null,
  ratio: times.scipy.length ? +(median(times.ours) / median(times.scipy)).toFixed(2) : null,
  eigenvalues: last,
};
console.log(JSON.stringify(result, null, 1));
