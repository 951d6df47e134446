/**
 * Device timing of `DeviceKernelBlock.gram()` and `.whiten()` (issue 5; src/gpu/dense/tall.ts): K̃_nm for a Gaussian
 * (σ = 0.1, points uniform in [0,1]³, mulberry32(7)) against m evenly spaced landmarks, each operation twice;
 * whiten with R = I (the substitution's cost does not depend on R's values).
 *
 *   npm run build && node bench/device-block-kernels.mjs [n = 1048576] [m = 8192]
 */
import { gaussianKernel, setBackend } from '../dist/index.js';
import { mulberry32 } from '../dist/krylov/random.js';
import { DeviceKernelBlock } from '../dist/gpu/dense/tall.js';
import { acquireGpu } from '../dist/gpu/device.js';
import { restrictRows } from '../dist/preconditioners/kernel-access.js';
import { collectVariables } from '../dist/formula/analyze.js';
const n = +(process.argv[2] ?? 1048576), m = +(process.argv[3] ?? 8192);
const rnd = mulberry32(7);
const data = new Float64Array(3 * n); for (let i = 0; i < 3 * n; i++) data[i] = rnd();
await setBackend('gpu');
const K = gaussianKernel({ data, rows: n, cols: 3 }, { sigma: 0.1, backend: 'gpu' });
const ctx = await acquireGpu();
const idx = Int32Array.from({ length: m }, (_, a) => Math.floor((a * n) / m));
const node = restrictRows(K.formula.node, { j: idx });
let t = performance.now();
const block = await DeviceKernelBlock.create(ctx, node, collectVariables(node), n, m);
console.log(JSON.stringify({ create: +(performance.now() - t).toFixed(0) }));
for (let r = 0; r < 2; r++) { t = performance.now(); await block.gram(); console.log(JSON.stringify({ gram: +(performance.now() - t).toFixed(0) })); }
const L = new Float64Array(m * m); for (let a = 0; a < m; a++) L[a * m + a] = 1;
for (let r = 0; r < 2; r++) { t = performance.now(); await block.whiten(L); console.log(JSON.stringify({ whiten: +(performance.now() - t).toFixed(0) })); }
process.exit(0);
