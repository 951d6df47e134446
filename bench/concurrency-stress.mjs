/**
 * Concurrency stress (issue 16, "no silent wrong answers", "long-running state survives"): many operations in flight
 * at once on kernel operators that share the worker pool, the recycled memories and the compiled programs — products
 * (1 and several columns), stores of K, solves (Cholesky and CG), eigsh (Lanczos and shift-invert), disposes and
 * memory-cache flushes in the middle — each result compared with the same operation run alone on a fresh operator
 * first (to the stated tolerance of each). Reports mismatches, errors, and the process's RSS after each round: the
 * operators are dropped without dispose(), so RSS shows whether their memories are freed (the workers' share of them
 * used to stay: +115 MiB a round, see src/cpu/pool.ts).
 *
 *   npm run build && node bench/concurrency-stress.mjs [--rounds=R] [--seed=S]
 *   npm run build && node --expose-gc bench/concurrency-stress.mjs --gc   (this thread collects after each round)
 */
import { recycledMemoryBytes, emptyMemoryCache, gaussianKernel, laplacianKernel, mulberry32, shutdownCpuPool } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const rounds = flag('rounds', 6);
const rand = mulberry32(flag('seed', 1));

const points = (n, d) => ({ data: Float64Array.from({ length: n * d }, () => rand()), rows: n, cols: d });
const vector = (n) => Float64Array.from({ length: n }, () => rand() - 0.5);
const relErr = (a, b) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
};

/** Operations: each makes its operator from the spec (a fresh one per call), runs, returns a flat Float64Array. */
function makeCases() {
  const cases = [];
  for (const [n, d, kernel, dtype, cache] of [
    [700, 3, 'gaussian', 'float64', 'auto'], [1300, 5, 'laplacian', 'float64', 'auto'], [900, 3, 'gaussian', 'float32', 'auto'],
    [2500, 3, 'gaussian', 'float64', 'never'], [1800, 8, 'gaussian', 'float64', 'always'], [600, 2, 'laplacian', 'float32', 'never'],
  ]) {
    const X = points(n, d);
    const sigma = 0.2 + rand() * 0.3;
    const make = () => (kernel === 'gaussian' ? gaussianKernel : laplacianKernel)(X, { sigma, dtype, backend: 'cpu', denseCache: cache });
    const b = vector(n);
    const B = Array.from({ length: 3 }, () => vector(n));
    const tag = `${kernel} n=${n} d=${d} ${dtype} cache=${cache}`;
    const tol = dtype === 'float32' ? 2e-5 : 1e-11;
    cases.push({ tag: `${tag} matvec`, tol, run: async () => make().matvec(b) });
    cases.push({
      tag: `${tag} matmat(3)`, tol,
      run: async () => {
        const { Matrix } = await import('ml-matrix');
        const M = new Matrix(n, 3);
        for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) M.set(i, c, B[c][i]);
        return Float64Array.from(((await make().matmat(M)).to1DArray()));
      },
    });
    cases.push({ tag: `${tag} solve`, tol: dtype === 'float32' ? 1e-4 : 1e-6, run: async () => make().solve(b, 0.1, { rtol: 1e-9 }) });
    cases.push({ tag: `${tag} eigsh(3)`, tol: dtype === 'float32' ? 1e-5 : 1e-9, run: async () => (await make().eigsh(3)).eigenvalues });
    if (dtype === 'float64' && kernel === 'laplacian') {
      cases.push({ tag: `${tag} eigsh sigma`, tol: 1e-9, run: async () => (await make().shift(0.1).eigsh(2, { sigma: 0 })).eigenvalues });
    }
    cases.push({
      tag: `${tag} matvec+dispose`, tol,
      run: async () => {
        const K = make();
        const first = K.matvec(b);
        const y = await first;
        await K.dispose();
        return y;
      },
    });
  }
  return cases;
}

const cases = makeCases();
const reference = [];
for (const c of cases) reference.push(Float64Array.from(await c.run()));
console.log(JSON.stringify({ cases: cases.length, references: 'done' }));

let mismatches = 0;
let errors = 0;
for (let r = 0; r < rounds; r++) {
  // every case at once, in a shuffled order, with cache flushes thrown in
  const order = cases.map((_, i) => i).sort(() => rand() - 0.5);
  const jobs = order.map(async (i, k) => {
    if (k % 5 === 0) await new Promise((resolve) => setTimeout(resolve, rand() * 5));
    if (k % 7 === 3) emptyMemoryCache();
    try {
      const got = Float64Array.from(await cases[i].run());
      const err = got.length === reference[i].length ? relErr(got, reference[i]) : Infinity;
      if (!(err <= cases[i].tol)) {
        mismatches++;
        console.log(JSON.stringify({ round: r, case: cases[i].tag, relErr: err, length: [got.length, reference[i].length] }));
      }
    } catch (e) {
      errors++;
      console.log(JSON.stringify({ round: r, case: cases[i].tag, error: String(e?.message ?? e).slice(0, 300) }));
    }
  });
  await Promise.all(jobs);
  if (args.includes('--gc')) globalThis.gc(); // node --expose-gc: this thread's collection each round, for RSS readings
  const rss = process.memoryUsage().rss / 2 ** 20;
  console.log(JSON.stringify({ round: r, mismatches, errors, rssMiB: Math.round(rss), recycledMiB: Math.round(recycledMemoryBytes() / 2 ** 20), externalMiB: Math.round(process.memoryUsage().external / 2 ** 20), abMiB: Math.round(process.memoryUsage().arrayBuffers / 2 ** 20) }));
}
await shutdownCpuPool();
console.log(JSON.stringify({ done: true, cases: cases.length, rounds, mismatches, errors }));
