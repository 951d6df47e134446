/**
 * CPU Gaussian matvec throughput (benchmark.js), side by side with numpy in the same run.
 *
 *   npm run bench            (builds, then runs this file and bench/numpy_matvec.py)
 *
 * K_ij = exp(-|x_i - y_j|² / (2σ²)), σ = 0.1, d = 3, uniform points in [0,1]³, n = m.
 * Prints pairs/s per size and dtype, numpy's figure for the same sizes, and the ratios.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import { gaussianKernel, mulberry32, shutdownCpuPool, type KernelOperator } from 'lazylinalg';

const SIGMA = 0.1;
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const SIZES = sizes.length ? sizes : [8192, 32768];

function points(n: number, seed: number): number[][] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => [rand(), rand(), rand()]);
}

/** Mean seconds per matvec measured by benchmark.js (deferred, async). */
function measure(name: string, K: KernelOperator, v: Float64Array, maxTime: number): Promise<Benchmark> {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      minSamples: 3,
      maxTime,
      fn: (deferred: { resolve(): void }) => { K.matvec(v).then(() => deferred.resolve(), reject); },
      onComplete: () => resolve(bench),
      onError: (e: unknown) => reject(e),
    });
    bench.run({ async: true });
  });
}

interface Row { impl: string; n: number; seconds: number; pairsPerS: number }

async function main(): Promise<void> {
  console.log(`# CPU Gaussian matvec, d = 3, σ = ${SIGMA}; ${availableParallelism()} threads, ${cpus()[0]?.model ?? '?'}, node ${process.version}`);
  const rows: Row[] = [];
  for (const n of SIZES) {
    const x = points(n, 1);
    const rand = mulberry32(2);
    const v = Float64Array.from({ length: n }, () => rand() - 0.5);
    for (const dtype of ['float64', 'float32'] as const) {
      const K = gaussianKernel(x, { sigma: SIGMA, dtype, denseCache: 'never' });
      await K.matvec(v); // compile + warm up
      const b = await measure(`lazylinalg ${dtype} n=${n}`, K, v, n > 20000 ? 20 : 5);
      const seconds = b.stats.mean;
      rows.push({ impl: `lazylinalg ${dtype}`, n, seconds, pairsPerS: (n * n) / seconds });
      console.log(`${b.name}: ${(seconds * 1e3).toFixed(1)} ms ±${b.stats.rme.toFixed(1)}% (${b.stats.sample.length} runs) → ${((n * n) / seconds / 1e9).toFixed(3)}e9 pairs/s`);
    }
  }
  await denseCacheComparison();
  await shutdownCpuPool();

  const script = fileURLToPath(new URL('../../bench/numpy_matvec.py', import.meta.url));
  const py = spawnSync('python3', [script, ...SIZES.map(String)], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`numpy reference failed: ${py.stderr}`);
  for (const line of py.stdout.trim().split('\n')) {
    const r = JSON.parse(line) as { n: number; seconds: number; pairs_per_s: number; numpy: string };
    rows.push({ impl: `numpy ${r.numpy} float64`, n: r.n, seconds: r.seconds, pairsPerS: r.pairs_per_s });
    console.log(`numpy n=${r.n}: ${(r.seconds * 1e3).toFixed(1)} ms → ${(r.pairs_per_s / 1e9).toFixed(3)}e9 pairs/s`);
  }

  console.log('\n| n | implementation | ms per matvec | pairs/s | × numpy |\n| --- | --- | --- | --- | --- |');
  for (const n of SIZES) {
    const ref = rows.find((r) => r.n === n && r.impl.startsWith('numpy'))!;
    for (const r of rows.filter((q) => q.n === n)) {
      console.log(`| ${n} | ${r.impl} | ${(r.seconds * 1e3).toFixed(1)} | ${(r.pairsPerS / 1e9).toFixed(3)}e9 | ${(r.pairsPerS / ref.pairsPerS).toFixed(2)} |`);
    }
  }
}

/** Mean seconds of `op` over repetitions filling ≥ 1 s (benchmark.js stalls on sub-ms deferred ops). */
async function meanSeconds(op: () => Promise<unknown>): Promise<number> {
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000 || reps < 3) { await op(); reps++; }
  return (performance.now() - t0) / reps / 1e3;
}

/**
 * Behind the dense-cache rule: per-product time of the symbolic kernel (WASM, all threads)
 * against a cached dense K (one JS thread, memory-bound), and the one-off cost of materialising K.
 */
async function denseCacheComparison(): Promise<string[]> {
  const lines = ['| n | symbolic float64 matvec | dense cached matvec | first cached product (materialise K + product) |', '| --- | --- | --- | --- |'];
  await gaussianKernel(points(64, 3), { sigma: SIGMA, denseCache: 'always' }).matvec(new Float64Array(64)); // compile once
  for (const n of [1000, 2000, 4000]) {
    const x = points(n, 3);
    const v = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const sym = gaussianKernel(x, { sigma: SIGMA, denseCache: 'never' });
    await sym.matvec(v);
    const symbolic = await meanSeconds(() => sym.matvec(v));
    const cached = gaussianKernel(x, { sigma: SIGMA, denseCache: 'always' });
    const t0 = performance.now();
    await cached.matvec(v); // materialises K (generated code, all threads), then one dense product
    const materialise = (performance.now() - t0) / 1e3;
    const dense = await meanSeconds(() => cached.matvec(v));
    lines.push(`| ${n} | ${(symbolic * 1e3).toFixed(2)} ms | ${(dense * 1e3).toFixed(2)} ms | ${(materialise * 1e3).toFixed(1)} ms |`);
  }
  console.log(`\n${lines.join('\n')}`);
  return lines;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
