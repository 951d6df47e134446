/**
 * Compensated products with every opq guard against half of them (KernelShape.lightGuards), and the host's float64
 * Cholesky against its thread count (issue 5, ninth session: why the core moved to the device).
 *
 *   npm run build && node bench/compensated-guards.mjs [n=1048576] [prod,chol] [m=8192] [threads=16,8,4]
 *
 * Lines: {"kind":"product", variant, ms: [3 timed runs], maxAbsDiffVsFull, entriesDiffering} — the light variant
 * must differ from the full one in no entry for the device to use it (see lightGuardsHold) — and
 * {"kind":"cholesky", m, threads, s}. Gaussian σ = 0.1 on mulberry32(1) points in [0,1]³; weights over 20 binades.
 */
import { gaussianKernel, mulberry32, setBackend, setCpuThreads, shutdownCpuPool } from '../dist/index.js';
import { choleskyUpperWasm } from '../dist/cpu/dense-cholesky.js';
import { availableParallelism, cpus } from 'node:os';
const log = (o) => console.log(JSON.stringify(o));
const args = process.argv.slice(2);
const n = Number(args[0] ?? 1048576);
const what = args[1] ?? 'prod,chol';
await setBackend('gpu');
log({ kind: 'host', parallelism: availableParallelism(), cpu: cpus()[0]?.model });
const rand = mulberry32(1);
const pts = { data: Float64Array.from({ length: 3 * n }, () => rand()), rows: n, cols: 3 };
if (what.includes('prod')) {
  const r2 = mulberry32(9);
  const x = Float64Array.from({ length: n }, () => (r2() - 0.5) * 2 ** Math.floor(r2() * 20 - 4));
  const variants = [
    ['full', { compensated: true, lightGuards: false }],
    ['light', { compensated: true, lightGuards: true }],
    ['default', { compensated: true }], // as lightGuardsHold decides
    ['f32', {}],
  ];
  const ops = variants.map(([name, gpu]) => [name, gaussianKernel(pts, { sigma: 0.1, backend: 'gpu', gpu })]);
  const out = {};
  for (const [name, K] of ops) { out[name] = await K.matvec(x); } // warm (compiles)
  const times = Object.fromEntries(ops.map(([name]) => [name, []]));
  for (let rep = 0; rep < 3; rep++) {
    for (const [name, K] of ops) {
      const t = performance.now();
      out[name] = await K.matvec(x);
      times[name].push(+(performance.now() - t).toFixed(1));
    }
  }
  const ref = out.full;
  for (const [name] of ops) {
    let diff = 0, differ = 0, scale = 0;
    for (let i = 0; i < n; i++) { const d = Math.abs(out[name][i] - ref[i]); if (d > 0) differ++; diff = Math.max(diff, d); scale = Math.max(scale, Math.abs(ref[i])); }
    log({ kind: 'product', n, variant: name, ms: times[name], maxAbsDiffVsFull: diff, relDiff: diff / scale, entriesDiffering: differ });
  }
}
if (what.includes('chol')) {
  const m = Number(args[2] ?? 8192);
  const r3 = mulberry32(3);
  const y = Float64Array.from({ length: 3 * m }, () => r3());
  const M = new Float64Array(m * m);
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
    const d0 = y[3 * a] - y[3 * b], d1 = y[3 * a + 1] - y[3 * b + 1], d2 = y[3 * a + 2] - y[3 * b + 2];
    M[a * m + b] = Math.exp(-(d0 * d0 + d1 * d1 + d2 * d2) / 0.02) + (a === b ? 1e-3 : 0);
  }
  for (const threads of (args[3] ?? '16,8,4').split(',').map(Number)) {
    await setCpuThreads(threads);
    const t = performance.now();
    const R = await choleskyUpperWasm(M, m);
    log({ kind: 'cholesky', m, threads, s: +((performance.now() - t) / 1e3).toFixed(2), ok: R !== undefined });
  }
}
await shutdownCpuPool();
