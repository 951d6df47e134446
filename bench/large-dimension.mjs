/**
 * Products over points of large dimension d (issue 16 item 11): the cost per (pair · dimension) of the Gaussian
 * exp(−|x − y|²/d) against d = 3, on the CPU (WASM SIMD, float64 and float32) and the GPU (whatever adapter:
 * llvmpipe in CI).
 *
 *   npm run build && node bench/large-dimension.mjs [cpu,gpu] [d=3,32,64,256,1024,4096] [GPU options as JSON]
 *
 * Criterion: ratio = (t_d / (n·m·d)) / (t_3 / (n·m·3)) ≤ 1.5 at d = 1,024, i.e. a product at d = 1,024 costs at
 * most 1.5 × (1024/3) times the d = 3 one for the same number of pairs. Lines: {"backend", dtype, d, n, m, ms
 * (median of 3 after a warm-up), nsPerPair, nsPerPairDim, ratio}. Points: mulberry32(1) in [0, 1)^d.
 */
import { Vi, Vj } from '../dist/index.js';
import { collectVariables } from '../dist/formula/analyze.js';
import { mulberry32 } from '../dist/krylov/random.js';
import { reduceKernel } from '../dist/cpu/reduce.js';
import { shutdownCpuPool } from '../dist/cpu/pool.js';
const log = (o) => console.log(JSON.stringify(o));
const args = process.argv.slice(2);
const backends = (args[0] ?? 'cpu,gpu').split(',');
const dims = (args[1] ?? '3,32,64,256,1024,4096').split(',').map(Number);
const gpuOptions = JSON.parse(args[2] ?? '{}'); // e.g. '{"dimensionChunk":16}' (GpuKernelOptions)
// about the same work per product: n·m·max(d, 16) ≈ budget
const SIZES = { cpu: 2 ** 31, gpu: 2 ** 26 };

function points(seed, n, d) {
  const rand = mulberry32(seed);
  return { data: Float64Array.from({ length: n * d }, () => rand()), rows: n, cols: d };
}

async function time(run) {
  await run(); // compile and warm up
  const ms = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await run();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[1];
}

async function bench(backend, dtype) {
  let base;
  for (const d of dims) {
    const n = Math.max(64, Math.round(Math.sqrt(SIZES[backend] / Math.max(d, 16)) / 64) * 64);
    const f = Vi(points(1, n, d)).sub(Vj(points(2, n, d))).sqnorm2().mul(-1 / d).exp();
    const vars = collectVariables(f.node);
    const b = [Float64Array.from({ length: n }, (_, j) => Math.sin(j))];
    let run;
    if (backend === 'cpu') run = () => reduceKernel(f.node, vars, n, n, b, { dtype });
    else {
      const { gpuReduceKernel } = await import('../dist/gpu/reduce.js');
      run = () => gpuReduceKernel(f.node, vars, n, n, b, gpuOptions);
    }
    const ms = await time(run);
    const nsPerPair = (ms * 1e6) / (n * n);
    const nsPerPairDim = nsPerPair / d;
    if (d === 3) base = nsPerPairDim;
    log({ backend, dtype, d, n, m: n, ms: +ms.toFixed(1), nsPerPair: +nsPerPair.toFixed(3), nsPerPairDim: +nsPerPairDim.toFixed(4), ratio: base ? +(nsPerPairDim / base).toFixed(3) : null });
  }
}

if (backends.includes('cpu')) {
  await bench('cpu', 'float64');
  await bench('cpu', 'float32');
  await shutdownCpuPool();
}
if (backends.includes('gpu')) await bench('gpu', 'float32');
process.exit(0);
