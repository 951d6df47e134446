/**
 * Where the default GPU solve's time goes at size n (issue 5): the build's stages, then one preconditioner
 * application and its parts, the double-float core factorisation and the Lanczos floor once more (warm), one
 * compensated product, and CG's per-iteration timestamps.
 *
 *   npm run build && node bench/iteration-cost.mjs [n=1048576]
 */
import { gaussianKernel, mulberry32, setBackend, shutdownCpuPool, cg } from '../dist/index.js';
const log = (o) => console.log(JSON.stringify(o));
const n = Number(process.argv[2] ?? 1048576);
await setBackend('gpu');
const rand = mulberry32(1);
const pts = { data: Float64Array.from({ length: 3 * n }, () => rand()), rows: n, cols: 3 };
const K = gaussianKernel(pts, { sigma: 0.1, backend: 'gpu' });
const twin = gaussianKernel(pts, { sigma: 0.1, backend: 'gpu', gpu: { compensated: true } });
const r5 = mulberry32(5);
const b = Float64Array.from({ length: n }, () => r5() - 0.5);
let t = performance.now();
const M = await K.preconditioner(1e-3, 'auto', { onProgress: (p) => log({ stage: p.stage, s: +(p.elapsedMs / 1e3).toFixed(2) }) });
log({ build: +((performance.now() - t) / 1e3).toFixed(2), M: String(M) });
const time = async (name, f, reps = 3) => { const ms = []; for (let k = 0; k < reps; k++) { const t0 = performance.now(); await f(); ms.push(+(performance.now() - t0).toFixed(1)); } log({ name, ms }); };
await time('P⁻¹ r (M.matvec)', () => M.matvec(b));
await time('block.woodbury', () => M.block.woodbury(b, M.R, M.nu));
await time('block.applyT', () => M.block.applyT(b));
const { acquireGpu } = await import('../dist/gpu/device.js');
const { deviceCholeskyDouble } = await import('../dist/gpu/dense/cholesky.js');
const { coreBottom } = await import('../dist/preconditioners/device-landmarks.js');
const ctx = await acquireGpu();
const G = M.block.gramPairs;
await time('deviceCholeskyDouble (warm)', async () => { const U = await deviceCholeskyDouble(ctx, G.hi, G.lo, M.rank, M.nu + M.jitter); U.destroy(); }, 2);
await time('coreBottom 6 steps (warm)', () => coreBottom(M.block, M.nu, 6, 0), 1);
await time('twin.matvec (compensated)', () => twin.matvec(b));
const A = twin.shift(1e-3);
const stamps = [];
t = performance.now();
const res = await cg(A, b, { M, rtol: 1e-6, maxiter: 40, onProgress: (p) => stamps.push(+((performance.now() - t) / 1e3).toFixed(3)) });
log({ cgTotal: +((performance.now() - t) / 1e3).toFixed(2), iterations: res.iterations, stamps });
await shutdownCpuPool();
process.exit(0);
