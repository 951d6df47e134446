/**
 * Blocks from products through the Krylov layer (issue 16, items 18 and 19), public API only, so the same
 * command runs on any commit:
 *   1. a 4-column `matmat` of a 10⁶ × 1,000 Gaussian cross kernel on the CPU (d = 3), median of 3 after a warm-up,
 *      beside the cost of building a 10⁶×4 ml-matrix `Matrix` alone;
 *   2. a 4-column block CG at n = 20,000 on the CPU (d = 3, σ = 0.1, α = 10⁻², K stored by the dense cache), per
 *      iteration, beside one column's, and the products alone (4-column matmat against matvec on the stored K);
 *   3. the small case of item 19 (n = 1,257, d = 64, σ = 2, α = 10⁻³): 10-column block CG per iteration beside one
 *      column's, and their ratio (target ≤ 1.5); and the products alone (10-column matmat against matvec on the stored
 *      K), whose ratio bounds the iterations' from below, with the 10-column product's rate in GFlop/s (2·10·n² flops).
 *
 *   npm run build && node bench/block-flow.mjs [parts=1,2,3]
 *
 * LAZYLINALG_LIB=/path/to/dist/index.js runs another build; LAZYLINALG_LIB_BEFORE=/path/to/other/dist/index.js runs
 * each part on that build and then on this one, each in a fresh process, one after the other (before/after).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Matrix } from 'ml-matrix';

const beforeLib = process.env.LAZYLINALG_LIB_BEFORE;
if (beforeLib && !process.env.LAZYLINALG_LIB) {
  const self = fileURLToPath(import.meta.url);
  for (const part of (process.argv[2] ?? '1,2,3').split(',')) {
    for (const [label, lib] of [['before', beforeLib], ['after', new URL('../dist/index.js', import.meta.url).href]]) {
      console.log(JSON.stringify({ part: +part, build: label, lib }));
      execFileSync(process.execPath, [self, part], { stdio: 'inherit', env: { ...process.env, LAZYLINALG_LIB: lib } });
    }
  }
  process.exit(0);
}
const { cg, gaussianKernel, mulberry32, shutdownCpuPool } = await import(process.env.LAZYLINALG_LIB ?? new URL('../dist/index.js', import.meta.url).href);

const log = (o) => console.log(JSON.stringify(o));
const parts = (process.argv[2] ?? '1,2,3').split(',').map(Number);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = (n, d, rand, scale = 1) => ({ data: Float64Array.from({ length: n * d }, () => scale * rand()), rows: n, cols: d });
const block = (n, k, rand) => { const M = new Matrix(n, k); for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) M.set(i, j, rand() - 0.5); return M; };

/** Milliseconds per CG iteration (fixed iteration count: rtol far below reach, residual checks as usual). */
async function perIteration(A, b, iterations) {
  const t = performance.now();
  const c = process.cpuUsage(); // the process's CPU time (pool threads included): steadier than wall time on a busy machine
  const res = await cg(A, b, { rtol: 1e-300, maxiter: iterations });
  const u = process.cpuUsage(c);
  return { ms: (performance.now() - t) / res.iterations, cpuMs: (u.user + u.system) / 1e3 / res.iterations, iterations: res.iterations };
}

if (parts.includes(1)) {
  const rand = mulberry32(1);
  const K = gaussianKernel(rows(1_000_000, 3, rand), { y: rows(1000, 3, rand), sigma: 0.5, backend: 'cpu' });
  const X = block(1000, 4, rand);
  await K.matmat(X); // warm-up: pool start, compilation
  const ms = [];
  const cpuMs = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    const c = process.cpuUsage();
    await K.matmat(X);
    const u = process.cpuUsage(c);
    ms.push(performance.now() - t);
    cpuMs.push((u.user + u.system) / 1e3);
  }
  const build = [];
  for (let r = 0; r < 3; r++) { const t = performance.now(); new Matrix(1_000_000, 4); build.push(performance.now() - t); }
  log({
    case: 'matmat 1e6x1000 cross kernel, 4 columns (cpu, d=3)', medianMs: +median(ms).toFixed(0), ms: ms.map(Math.round),
    medianCpuMs: +median(cpuMs).toFixed(0), newMatrix1e6x4Ms: +median(build).toFixed(0),
  });
}

if (parts.includes(2)) {
  const rand = mulberry32(2);
  const n = 20_000;
  const K = gaussianKernel(rows(n, 3, rand), { sigma: 0.1, backend: 'cpu' });
  const A = K.shift(1e-2);
  const B = block(n, 4, rand);
  await perIteration(A, B, 3); // stores K (the dense cache) and warms up
  const blockIt = await perIteration(A, B, 30);
  const oneIt = await perIteration(A, B.getColumn(0), 30);
  // the products alone: 4 columns need one read of K where one column is bound by it
  const X = B.getColumn(0);
  const product = [];
  for (let r = 0; r < 3; r++) {
    let t = performance.now();
    await K.matmat(B);
    const blockMs = performance.now() - t;
    t = performance.now();
    await K.matvec(X);
    product.push({ blockMs, oneMs: performance.now() - t });
  }
  log({
    case: 'products alone n=20000 (stored K), 4-column matmat vs matvec (cpu)', blockMs: +median(product.map((p) => p.blockMs)).toFixed(1),
    oneMs: +median(product.map((p) => p.oneMs)).toFixed(1), ratioMedian: +median(product.map((p) => p.blockMs / p.oneMs)).toFixed(2),
    gflopsBlock: +(2 * 4 * n * n / median(product.map((p) => p.blockMs)) / 1e6).toFixed(1),
  });
  log({
    case: 'block CG n=20000, 4 columns (cpu, d=3)', msPerIteration: +blockIt.ms.toFixed(1), oneColumnMsPerIteration: +oneIt.ms.toFixed(1),
    cpuMsPerIteration: +blockIt.cpuMs.toFixed(1), oneColumnCpuMsPerIteration: +oneIt.cpuMs.toFixed(1), ratio: +(blockIt.ms / oneIt.ms).toFixed(2), denseCached: K.isDenseCached,
  });
}

if (parts.includes(3)) {
  // 64-dimensional points near a 3-dimensional manifold (pixel-like scale), so that σ = 2 couples neighbours
  const rand = mulberry32(3);
  const n = 1257, d = 64;
  const P = Float64Array.from({ length: 3 * d }, () => rand() - 0.5);
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const u = [16 * rand(), 16 * rand(), 16 * rand()];
    for (let c = 0; c < d; c++) data[i * d + c] = u[0] * P[c] + u[1] * P[d + c] + u[2] * P[2 * d + c] + 0.3 * rand();
  }
  const K = gaussianKernel({ data, rows: n, cols: d }, { sigma: 2, backend: 'cpu' });
  const A = K.shift(1e-3);
  const B = new Matrix(n, 10);
  for (let i = 0; i < n; i++) B.set(i, i % 10, 1); // one-hot right-hand sides
  await perIteration(A, B, 5); // stores K and warms up
  const ratios = [];
  const cpuRatios = [];
  let last;
  for (let r = 0; r < 3; r++) {
    const blockIt = await perIteration(A, B, 100);
    const oneIt = await perIteration(A, B.getColumn(0), 100);
    ratios.push(blockIt.ms / oneIt.ms);
    cpuRatios.push(blockIt.cpuMs / oneIt.cpuMs);
    last = { blockMs: +blockIt.ms.toFixed(2), oneMs: +oneIt.ms.toFixed(2), blockCpuMs: +blockIt.cpuMs.toFixed(2), oneCpuMs: +oneIt.cpuMs.toFixed(2) };
  }
  // the products alone (no CG arithmetic): 10 columns need 10·n² multiply-adds where one column is a pass over the stored K
  const products = [];
  for (let r = 0; r < 3; r++) {
    const X = B.getColumn(0);
    let t = performance.now();
    for (let q = 0; q < 50; q++) await K.matmat(B);
    const block = (performance.now() - t) / 50;
    t = performance.now();
    for (let q = 0; q < 50; q++) await K.matvec(X);
    products.push({ block, one: (performance.now() - t) / 50 });
  }
  const productRatios = products.map((p) => p.block / p.one);
  log({
    case: 'products alone n=1257 d=64 (stored K), 10-column matmat vs matvec (cpu)',
    blockMs: +median(products.map((p) => p.block)).toFixed(2), oneMs: +median(products.map((p) => p.one)).toFixed(2),
    ratioMedian: +median(productRatios).toFixed(2), gflopsBlock: +(2 * 10 * n * n / median(products.map((p) => p.block)) / 1e6).toFixed(1),
  });
  log({
    case: 'block CG n=1257 d=64, 10 columns vs 1 (cpu)', ...last, ratioMedian: +median(ratios).toFixed(2), cpuRatioMedian: +median(cpuRatios).toFixed(2),
    ratios: ratios.map((x) => +x.toFixed(2)), denseCached: K.isDenseCached,
  });
}

await shutdownCpuPool();
process.exit(0);
