/**
 * Small kernel ridge problems beside scikit-learn's KernelRidge (issue 16, item 19): fit + predict time at equal
 * accuracy, n ≈ 1,000–5,000, d = 3 and 64, 1 and 10 right-hand sides. One command runs both sides on the same data
 * (bench/small_solve_sklearn.py makes it and times sklearn, best of 3); lazylinalg fits with K.solve(Y, α) (its
 * 'auto' method: a dense Cholesky factor where it pays, else CG) and predicts with the cross kernel K(t, x)·a, in this
 * process, first run (cold: pool start, compilation) and best of 3 (each on fresh operators). Beside it, best of 3 with
 * the dense factor held in float64 (`factorDtype: 'float64'`, what 'auto' did before the float32 factor), interleaved.
 *
 *   npm run build && node bench/small-solve.mjs [--n 5000]  # the comparison (--n: only that size)
 *   npm run build && node bench/small-solve.mjs --pool-ready # the same, the worker pool started first (as in a process
 *                                                             # that has already done ≈ 140 ms of such work: ski rental)
 *   npm run build && node bench/small-solve.mjs --fresh [reps=5] [--n 1257] # each side's FIRST fit + predict in a
 *                                                             # fresh process (imports and data loading excluded), the
 *                                                             # two alternating: medians of reps, cold against cold;
 *                                                             # with --reference-4k-pages also sklearn with
 *                                                             # NUMPY_MADVISE_HUGEPAGE=0 (numpy on the 4 KiB pages V8
 *                                                             # gets; by default numpy madvises huge pages);
 *                                                             # with --baseline DIR also another build's dist/ (DIR,
 *                                                             # e.g. a worktree of an earlier commit, built), alternating
 *                                                             # with ours in the same process pairs: ours / baseline
 *   npm run build && node bench/small-solve.mjs --crossover # CG against the factorisation, for CHOLESKY_MADD_COST
 *   npm run build && node bench/small-solve.mjs --dtype-crossover # float32 against float64 factors, for FLOAT32_FACTOR_MIN_N
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Matrix } from 'ml-matrix';
import { gaussianKernel, mulberry32, shutdownCpuPool } from '../dist/index.js';
import { poolReady, startCpuPool } from '../dist/cpu/pool.js';

const log = (o) => console.log(JSON.stringify(o));
const rows = (flat, n, d) => ({ data: Float64Array.from(flat), rows: n, cols: d });
const block = (flat, n, k) => { const M = new Matrix(n, k); for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) M.set(i, j, flat[i * k + j]); return M; };

async function fitPredict(c, options = {}) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const K = gaussianKernel(rows(c.X, c.n, c.d), { sigma: c.sigma });
  const Y = c.k === 1 ? Float64Array.from(c.Y) : block(c.Y, c.n, c.k);
  const result = await K.solve(Y, c.alpha, { rtol: 1e-6, returnInfo: true, ...options });
  const cross = gaussianKernel(rows(c.T, c.test, c.d), { y: rows(c.X, c.n, c.d), sigma: c.sigma });
  const P = c.k === 1 ? await cross.matvec(result.x) : await cross.matmat(result.x);
  const seconds = (performance.now() - t0) / 1e3;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await K.dispose();
  await cross.dispose();
  return { seconds, cpuSeconds, P: c.k === 1 ? Array.from(P) : P.to1DArray(), plan: result.plan, iterations: result.iterations, pool: poolReady() };
}

/** max |P − P_sklearn| / max |P_sklearn|. */
const predictionGap = (P, Q) => P.reduce((m, v, i) => Math.max(m, Math.abs(v - Q[i])), 0) / Q.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function casesAsked() {
  const cases = [];
  const only = process.argv.includes('--n') ? Number(process.argv[process.argv.indexOf('--n') + 1]) : undefined;
  for (const [n, d] of [[1257, 64], [1000, 3], [2000, 3], [2000, 64], [5000, 3], [5000, 64]]) {
    if (only !== undefined && n !== only) continue;
    for (const k of [1, 10]) cases.push({ n, d, k, sigma: d === 64 ? 2 : 0.2, alpha: 1e-3, test: d === 64 && n === 1257 ? 540 : 1000 });
  }
  return cases;
}

/** The cases with sklearn's data, predictions and best-of-3 times (bench/small_solve_sklearn.py), and their file. */
function sklearnCases(cases) {
  const dir = mkdtempSync(join(tmpdir(), 'small-solve-'));
  const out = join(dir, 'sklearn.json');
  const script = fileURLToPath(new URL('./small_solve_sklearn.py', import.meta.url));
  const py = spawnSync('python3', [script, out], { input: JSON.stringify(cases), stdio: ['pipe', 'inherit', 'inherit'] });
  if (py.status !== 0) throw new Error('small_solve_sklearn.py failed');
  return { file: out, cases: JSON.parse(readFileSync(out, 'utf8')) };
}

async function comparison() {
  const summary = [];
  for (const c of sklearnCases(casesAsked()).cases) {
    const cold = await fitPredict(c);
    let best = cold;
    let best64;
    let cpu = cold.cpuSeconds;
    let cpu64 = Infinity;
    for (let r = 0; r < 3; r++) {
      if (r < 2) { const run = await fitPredict(c); if (run.seconds < best.seconds) best = run; cpu = Math.min(cpu, run.cpuSeconds); }
      const run64 = await fitPredict(c, { factorDtype: 'float64' });
      if (!best64 || run64.seconds < best64.seconds) best64 = run64;
      cpu64 = Math.min(cpu64, run64.cpuSeconds);
    }
    const factor = best.plan.M?.factorDtype;
    const row = {
      n: c.n, d: c.d, k: c.k, sklearn: +c.seconds.toFixed(3), cold: +cold.seconds.toFixed(3), best: +best.seconds.toFixed(3),
      ratioCold: +(cold.seconds / c.seconds).toFixed(2), ratioBest: +(best.seconds / c.seconds).toFixed(2),
      method: best.plan.method + (factor ? ` (${factor})` : ''), predictionGap: +predictionGap(best.P, c.P).toExponential(1), poolReady: best.pool,
      cpuSklearn: +c.cpuSeconds.toFixed(3), cpu: +cpu.toFixed(3), ratioCpu: +(cpu / c.cpuSeconds).toFixed(2),
      ...(best.plan.method === 'cholesky' ? {
        bestF64: +best64.seconds.toFixed(3), ratioBestF64: +(best64.seconds / c.seconds).toFixed(2),
        cpuF64: +cpu64.toFixed(3), ratioCpuF64: +(cpu64 / c.cpuSeconds).toFixed(2), gapF64: +predictionGap(best64.P, c.P).toExponential(1),
      } : {}),
    };
    log(row);
    summary.push(row);
  }
  console.table(summary);
}

/**
 * Cold against cold: for each case, a fresh Node process times our first fit + predict (operator construction, the
 * solve, the cross product; the import and the data's loading not timed) and a fresh Python process times
 * KernelRidge's first fit + predict (imports and data not timed), alternating, `reps` times; medians.
 */
async function fresh(reps) {
  const { file, cases } = sklearnCases(casesAsked());
  const baselineAt = process.argv.indexOf('--baseline');
  const baseline = baselineAt >= 0 ? pathToFileURL(join(resolve(process.argv[baselineAt + 1]), 'index.js')).href : undefined;
  const summary = [];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const ours = (lib = new URL('../dist/index.js', import.meta.url).href) => `
const { readFileSync } = await import('node:fs');
const { gaussianKernel, shutdownCpuPool } = await import(${JSON.stringify(lib)});
const { Matrix } = await import('ml-matrix');
const c = JSON.parse(readFileSync(${JSON.stringify(file)}, 'utf8'))[${i}];
const X = Float64Array.from(c.X), T = Float64Array.from(c.T);
const Y = c.k === 1 ? Float64Array.from(c.Y) : new Matrix(Array.from({ length: c.n }, (_, r) => c.Y.slice(r * c.k, r * c.k + c.k)));
const t0 = performance.now();
const K = gaussianKernel({ data: X, rows: c.n, cols: c.d }, { sigma: c.sigma });
const a = await K.solve(Y, c.alpha, { rtol: 1e-6 });
const cross = gaussianKernel({ data: T, rows: c.test, cols: c.d }, { y: { data: X, rows: c.n, cols: c.d }, sigma: c.sigma });
const P = c.k === 1 ? await cross.matvec(a) : await cross.matmat(a);
const seconds = (performance.now() - t0) / 1e3;
const flat = c.k === 1 ? Array.from(P) : P.to1DArray();
console.log(JSON.stringify({ seconds, gap: flat.reduce((m, v, j) => Math.max(m, Math.abs(v - c.P[j])), 0) / c.P.reduce((m, v) => Math.max(m, Math.abs(v)), 0) }));
await shutdownCpuPool();`;
    const sklearn = `
import json, time, numpy as np
from sklearn.kernel_ridge import KernelRidge
c = json.load(open(${JSON.stringify(file)}))[${i}]
X = np.array(c['X']).reshape(c['n'], c['d']); T = np.array(c['T']).reshape(c['test'], c['d']); Y = np.array(c['Y']).reshape(c['n'], c['k'])
t0 = time.perf_counter()
P = KernelRidge(alpha=c['alpha'], kernel='rbf', gamma=1 / (2 * c['sigma'] ** 2)).fit(X, Y).predict(T)
print(json.dumps({'seconds': time.perf_counter() - t0}))`;
    const pages4k = process.argv.includes('--reference-4k-pages');
    const t = { ours: [], sklearn: [], sklearn4k: [], baseline: [] };
    let gap = 0;
    const coin = mulberry32(17 + i);
    for (let r = 0; r < reps; r++) {
      // with a baseline, the two run in a seeded random order each time: on this VM the order alone moved medians ±10%
      const runBaseline = () => t.baseline.push(JSON.parse(spawnSync(process.execPath, ['--input-type=module', '-e', ours(baseline)], { encoding: 'utf8' }).stdout).seconds);
      const baselineFirst = baseline !== undefined && coin() < 0.5;
      if (baselineFirst) runBaseline();
      const o = JSON.parse(spawnSync(process.execPath, ['--input-type=module', '-e', ours()], { encoding: 'utf8' }).stdout);
      t.ours.push(o.seconds);
      gap = Math.max(gap, o.gap);
      if (baseline && !baselineFirst) runBaseline();
      t.sklearn.push(JSON.parse(spawnSync('python3', ['-c', sklearn], { encoding: 'utf8' }).stdout).seconds);
      if (pages4k) t.sklearn4k.push(JSON.parse(spawnSync('python3', ['-c', sklearn], { encoding: 'utf8', env: { ...process.env, NUMPY_MADVISE_HUGEPAGE: '0' } }).stdout).seconds);
    }
    const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const row = { n: c.n, d: c.d, k: c.k, oursFirst: +med(t.ours).toFixed(3), sklearnFirst: +med(t.sklearn).toFixed(3), ratio: +(med(t.ours) / med(t.sklearn)).toFixed(2),
      ...(pages4k ? { sklearn4kPages: +med(t.sklearn4k).toFixed(3), ratio4kPages: +(med(t.ours) / med(t.sklearn4k)).toFixed(2) } : {}),
      ...(baseline ? { baselineFirst: +med(t.baseline).toFixed(3), oursOverBaseline: +(med(t.ours) / med(t.baseline)).toFixed(3) } : {}), predictionGap: +gap.toExponential(1), ours: t.ours.map((x) => +x.toFixed(3)), sklearn: t.sklearn.map((x) => +x.toFixed(3)) };
    log(row);
    summary.push(row);
  }
  console.table(summary.map(({ ours, sklearn, ...rest }) => rest));
}

/** Wall time of K.solve(b, α) by each method on fresh operators (K stored first, as both paths store it). */
async function crossover() {
  const rand = mulberry32(7);
  for (const n of [500, 1000, 2000, 3000, 5000]) {
    const X = Float64Array.from({ length: 3 * n }, () => rand());
    for (const alpha of [1e-3, 1e-2, 1e-1, 1]) {
      for (const k of [1, 10]) {
        const row = { n, alpha, k };
        for (const method of ['cg', 'cholesky']) {
          const K = gaussianKernel({ data: X, rows: n, cols: 3 }, { sigma: 0.2 });
          const B = k === 1 ? Float64Array.from({ length: n }, () => rand() - 0.5) : Matrix.rand(n, k, { random: rand });
          await K.matvec(new Float64Array(n).fill(1)); // K stored (expectRepeatedProducts) and λ̂ made, outside the timing
          const t0 = performance.now();
          const r = await K.solve(B, alpha, { method, rtol: 1e-6, returnInfo: true });
          row[method] = +((performance.now() - t0) / 1e3).toFixed(3);
          if (method === 'cg') row.iterations = r.iterations;
          await K.dispose();
        }
        const K = gaussianKernel({ data: X, rows: n, cols: 3 }, { sigma: 0.2 });
        const plan = await (await import('../dist/preconditioners/solve.js')).solvePlan(K, k === 1 ? new Float64Array(n) : new Matrix(n, k), alpha, { rtol: 1e-6 });
        row.auto = plan.method;
        row.estimate = plan.estimate && { cg: Math.round(plan.estimate.cgProducts), cholesky: Math.round(plan.estimate.choleskyProducts) };
        await K.dispose();
        log(row);
      }
    }
  }
}

/**
 * Fit + predict with the factor in float32 (refined) against float64, alternating on fresh operators, medians of
 * `reps`: where 'auto''s float32 factor stops paying as n shrinks (per d and right-hand-side count).
 */
async function dtypeCrossover(reps = 7) {
  const rand = mulberry32(11);
  for (const d of [3, 64]) {
    for (const n of [800, 1000, 1257, 1500, 2000]) {
      const X = Array.from({ length: n * d }, () => rand());
      const T = Array.from({ length: 500 * d }, () => rand());
      for (const k of [1, 10]) {
        const c = { n, d, k, sigma: d === 64 ? 2 : 0.2, alpha: 1e-3, test: 500, X, T, Y: Array.from({ length: n * k }, () => rand() - 0.5) };
        await fitPredict(c); // warm: programs compiled, pool started
        const t = { float32: [], float64: [] };
        for (let r = 0; r < reps; r++) {
          for (const dtype of r % 2 ? ['float64', 'float32'] : ['float32', 'float64']) {
            t[dtype].push((await fitPredict(c, { factorDtype: dtype })).seconds * 1e3);
          }
        }
        const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
        log({ d, n, k, float32Ms: +med(t.float32).toFixed(1), float64Ms: +med(t.float64).toFixed(1), ratio: +(med(t.float32) / med(t.float64)).toFixed(2) });
      }
    }
  }
}

try {
  if (process.argv.includes('--pool-ready')) await startCpuPool();
  const at = process.argv.indexOf('--fresh');
  await (at >= 0 ? fresh(Number(/^\d+$/.test(process.argv[at + 1] ?? '') ? process.argv[at + 1] : 5))
    : process.argv.includes('--crossover') ? crossover() : process.argv.includes('--dtype-crossover') ? dtypeCrossover() : comparison());
} finally {
  await shutdownCpuPool();
}
