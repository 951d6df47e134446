/**
 * argKmin and logsumexp (issue 19, must-show figures), in one command:
 *  1. argKmin (k = 10) of |x_i − y_j|² for n = m uniform points in [0, 1]³ on the CPU (float32 and float64),
 *     against a chunked numpy brute force (cdist + argpartition, float64) and scikit-learn's KDTree in the same
 *     run (bench/argkmin_numpy.py), with the neighbour agreement: rows whose neighbour sets are identical, and
 *     rows that differ only by near-ties (the k-th and (k+1)-th float64 distances within 1e-6 relative).
 *  2. logsumexp of −|x_i − y_j|²/ε, ε = 1e-3, n = m = 10,000 in float32 on the CPU and (when an adapter exists)
 *     the GPU, against numpy's float64 scipy.special.logsumexp: all finite, and the error relative to max(1, |ref|)
 *     (results cross 0 here, where a relative error means nothing in float32; the absolute error is printed too).
 * Points are float32-representable, so every side reads the same values.
 *
 *   npm run build && node bench/argkmin.mjs [n=100000] [--no-gpu]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vi, Vj, mulberry32, shutdownCpuPool } from '../dist/index.js';

const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 100000);
const useGpu = !args.includes('--no-gpu');
const d = 3;
const k = 10;
const dir = mkdtempSync(join(tmpdir(), 'argkmin-'));
const script = new URL('./argkmin_numpy.py', import.meta.url).pathname;

function pointsFile(rows, seed) {
  const rand = mulberry32(seed);
  const data = Float64Array.from({ length: rows * d }, () => Math.fround(rand()));
  const path = join(dir, `points-${rows}-${seed}.f64`);
  writeFileSync(path, new Uint8Array(data.buffer));
  return { data, path };
}

function python(...a) {
  const r = spawnSync('python3', [script, ...a.map(String)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`numpy side failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const sq = (P, i, Q, j) => { let s = 0; for (let c = 0; c < d; c++) { const t = P[i * d + c] - Q[j * d + c]; s += t * t; } return s; };

/** Rows with identical neighbour sets, rows that differ only where float64 distances tie within 1e-6. */
function agreement(ours, ref, X, Y, rows) {
  let same = 0;
  let ties = 0;
  const bad = [];
  for (let i = 0; i < rows; i++) {
    const a = new Set(ours.subarray(i * k, (i + 1) * k));
    const b = ref.subarray(i * k, (i + 1) * k);
    if (b.every((j) => a.has(j))) { same++; continue; }
    const kth = sq(X, i, Y, b[k - 1]);
    const extra = [...a].filter((j) => !b.includes(j));
    if (extra.every((j) => Math.abs(sq(X, i, Y, j) - kth) <= 1e-6 * kth)) ties++;
    else bad.push(i);
  }
  return { same, ties, bad: bad.length, firstBad: bad.slice(0, 5) };
}

// 1. argKmin
const { data: P, path } = pointsFile(2 * n, 19);
const X = P.subarray(0, n * d);
const Y = P.subarray(n * d);
const F = Vi({ data: X, rows: n, cols: d }).sub(Vj({ data: Y, rows: n, cols: d })).sqnorm2();
const warm = Vi({ data: X.subarray(0, 64 * d), rows: 64, cols: d }).sub(Vj({ data: Y, rows: n, cols: d })).sqnorm2();
for (const dtype of ['float32', 'float64']) await warm.argKmin(k, 1, { backend: 'cpu', dtype });
const ours = {};
for (const dtype of ['float32', 'float64']) {
  const t0 = performance.now();
  const idx = await F.argKmin(k, 1, { backend: 'cpu', dtype });
  ours[dtype] = { seconds: (performance.now() - t0) / 1000, idx };
}
const refPath = join(dir, 'numpy-idx.i32');
const ref = python('argkmin', path, n, n, d, k, refPath);
const refIdx = new Int32Array(readFileSync(refPath).buffer.slice(0));
console.log(`argKmin k=${k}, n = m = ${n}, d = ${d} on the CPU`);
console.log(`  numpy chunked cdist + argpartition (float64): ${ref.numpy_s.toFixed(2)} s`);
console.log(`  scikit-learn KDTree build + query:           ${ref.kdtree_s.toFixed(2)} s (neighbour sets equal to numpy's: ${(100 * ref.kdtree_agrees).toFixed(3)}%)`);
for (const [dtype, r] of Object.entries(ours)) {
  const a = agreement(r.idx, refIdx, X, Y, n);
  console.log(`  lazylinalg argKmin ${dtype}: ${r.seconds.toFixed(2)} s — ${(ref.numpy_s / r.seconds).toFixed(1)}× numpy, ${(ref.kdtree_s / r.seconds).toFixed(2)}× KDTree; ` +
    `rows identical ${a.same}/${n}, near-ties ${a.ties}, other differences ${a.bad}${a.bad ? ` (rows ${a.firstBad.join(', ')})` : ''}`);
}

// 2. logsumexp at ε = 1e-3
const nl = 10000;
const eps = 1e-3;
const { data: L, path: lpath } = pointsFile(2 * nl, 7);
const lsePath = join(dir, 'lse.f64');
python('logsumexp', lpath, nl, nl, d, eps, lsePath);
const want = new Float64Array(readFileSync(lsePath).buffer.slice(0));
const G = Vi({ data: L.subarray(0, nl * d), rows: nl, cols: d }).sub(Vj({ data: L.subarray(nl * d), rows: nl, cols: d })).sqnorm2().div(-eps);
const naive = await G.exp().sum(1, { backend: 'cpu', dtype: 'float32' });
console.log(`logsumexp of −|x − y|²/ε, ε = ${eps}, n = m = ${nl}, float32 (reference: numpy float64); rows where a naive float32 log Σ exp is −∞: ${naive.filter((s) => !(Math.log(s) > -Infinity)).length}`);
const backends = ['cpu'];
if (useGpu) {
  try { await (await import('../dist/gpu/device.js')).acquireGpu(); backends.push('gpu'); } catch (e) { console.log(`  gpu: no adapter (${e.message.split('\n')[0]})`); }
}
for (const backend of backends) {
  const t0 = performance.now();
  const got = await G.logsumexp(1, undefined, { backend, dtype: 'float32' });
  const s = (performance.now() - t0) / 1000;
  let scaled = 0; // |Δ| / max(1, |ref|): relative where the result is not near 0, absolute where it is
  let abs = 0;
  for (let i = 0; i < nl; i++) {
    const e = Math.abs(got[i] - want[i]);
    abs = Math.max(abs, e);
    scaled = Math.max(scaled, e / Math.max(1, Math.abs(want[i])));
  }
  const near0 = want.filter((v) => Math.abs(v) < 1).length;
  console.log(`  ${backend}: ${s.toFixed(2)} s, all finite: ${got.every(Number.isFinite)}, max |Δ|/max(1, |ref|) = ${scaled.toExponential(2)} ` +
    `(${scaled <= 1e-6 ? 'within' : 'NOT within'} 1e-6), max |Δ| = ${abs.toExponential(2)}; ${near0} of ${nl} reference values lie in (−1, 1)`);
}
await shutdownCpuPool();
process.exit(0);
