// Resident memory under repeated CPU-pool products (issue 16 item 8). Two runs in one process:
//   products: 1,000 products of a tall cross kernel, n = 200,000 points × m = 64 (d = 3), K·v each;
//   cg:       a 1,000-iteration CG at n = 1,000,000 on D + K·Kᵀ (K: n × 16 cross kernel, D a diagonal with
//             κ = 10⁸ so that CG does not converge early), two pool products an iteration.
// Prints RSS (MiB) every 100 products/iterations, then one JSON line { run: { start, peak, end } }.
// Usage: npm run build && node bench/pool-rss.mjs [products|cg|all]
//        LAZYLINALG_LIB=/path/to/dist/index.js node bench/pool-rss.mjs   (another build, e.g. the starting commit's)
//        RSS_LIMIT_MIB=6000 stops a run once RSS passes that (a leaking build would exhaust a shared machine);
//        the run's record then says at which product/iteration it stopped.
const lib = await import(process.env.LAZYLINALG_LIB ?? new URL('../dist/index.js', import.meta.url).href);
const { gaussianKernel, mulberry32, cg, DiagonalOperator, shutdownCpuPool } = lib;

const MiB = 2 ** 20;
const rss = () => Math.round(process.memoryUsage().rss / MiB);
const points = (seed, n, d) => {
  const r = mulberry32(seed);
  return { data: Float64Array.from({ length: n * d }, () => r()), rows: n, cols: d };
};

const limit = Number(process.env.RSS_LIMIT_MIB ?? Infinity);
class RssLimit extends Error {}

function tracker(label) {
  const start = rss();
  let peak = start;
  let stoppedAt;
  const t0 = performance.now();
  return {
    sample(i) {
      const now = rss();
      peak = Math.max(peak, now);
      if (i % 100 === 0) console.log(`${label} ${i}: rss ${now} MiB`);
      if (now > limit) {
        stoppedAt = i;
        throw new RssLimit(`${label}: RSS ${now} MiB passed RSS_LIMIT_MIB at ${i}`);
      }
    },
    done() {
      const end = rss();
      return { start, peak: Math.max(peak, end), end, seconds: +((performance.now() - t0) / 1000).toFixed(1), ...(stoppedAt ? { stoppedAt } : {}) };
    },
  };
}

async function products() {
  const K = gaussianKernel(points(1, 200_000, 3), { y: points(2, 64, 3), sigma: 0.5, denseCache: 'never' });
  const v = Float64Array.from({ length: 64 }, (_, j) => Math.sin(j));
  const t = tracker('products');
  try {
    for (let i = 1; i <= 1000; i++) {
      await K.matvec(v);
      t.sample(i);
    }
  } catch (error) {
    if (!(error instanceof RssLimit)) throw error;
  }
  return t.done();
}

async function cgRun() {
  const n = 1_000_000;
  const K = gaussianKernel(points(3, n, 3), { y: points(4, 16, 3), sigma: 0.5, denseCache: 'never' });
  const D = new DiagonalOperator(Float64Array.from({ length: n }, (_, i) => 10 ** (8 * i / (n - 1))));
  const A = D.add(K.dot(K.T));
  const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
  const t = tracker('cg');
  let iterations = 0;
  try {
    const result = await cg(A, b, { rtol: 1e-14, maxiter: 1000, callback: () => t.sample(++iterations) });
    return { ...t.done(), iterations: result.iterations, info: result.info };
  } catch (error) {
    if (!(error instanceof RssLimit)) throw error;
    return { ...t.done(), iterations };
  }
}

const which = process.argv[2] ?? 'all';
const out = { threads: (await import('node:os')).availableParallelism() };
if (which === 'all' || which === 'products') out.products = await products();
if (which === 'all' || which === 'cg') out.cg = await cgRun();
console.log(JSON.stringify(out));
await shutdownCpuPool();
