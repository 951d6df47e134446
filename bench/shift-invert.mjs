/**
 * Shift-invert eigsh beside scipy (issue 16, item 15), in one command: A = K + 0.1·I, K the Laplacian kernel
 * exp(−|x − y| / 0.3) of n uniform points in [0, 1]³, the 3 eigenvalues nearest 0 (sigma = 0, which 'LM').
 * scipy: K built densely in numpy from the same points, eigsh(A, 3, sigma=0) (dense LU + ARPACK), timed with K's
 * construction (bench/shift_invert_scipy.py). lazylinalg: laplacianKernel(points).shift(0.1).eigsh(3, { sigma: 0 })
 * end to end in this process (operator construction, A − σI materialised and factored once, Lanczos). Wall times, and
 * CPU times of all of each process's threads beside them (steadier on a shared machine; OpenBLAS's waiting threads count).
 *
 *   npm run build && node bench/shift-invert.mjs [n …=1500 5000]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { laplacianKernel, mulberry32, shutdownCpuPool } from '../dist/index.js';

const sizes = process.argv.slice(2).map(Number);
const d = 3;
const s = 0.3;
const alpha = 0.1;
const dir = mkdtempSync(join(tmpdir(), 'shift-invert-'));
const rows = [];
for (const n of sizes.length ? sizes : [1500, 5000]) {
  const rand = mulberry32(n);
  const data = Float64Array.from({ length: n * d }, () => rand());
  const path = join(dir, `points-${n}.f64`);
  writeFileSync(path, new Uint8Array(data.buffer));
  const py = spawnSync('python3', [new URL('./shift_invert_scipy.py', import.meta.url).pathname, path, String(n), String(d), String(s), String(alpha)], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`scipy side failed: ${py.stderr}`);
  const scipy = JSON.parse(py.stdout);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const A = laplacianKernel({ data, rows: n, cols: d }, { sigma: s, backend: 'cpu' }).shift(alpha);
  const res = await A.eigsh(3, { sigma: 0 });
  const ours = (performance.now() - t0) / 1e3;
  const cpu = process.cpuUsage(c0);
  const oursCpu = (cpu.user + cpu.system) / 1e6;
  const rel = Math.max(...Array.from(res.eigenvalues, (v, i) => Math.abs(v - scipy.eigenvalues[i]) / Math.abs(scipy.eigenvalues[i])));
  const row = {
    n, scipy_s: +scipy.total_s.toFixed(3), scipy_build_s: +scipy.build_s.toFixed(3), lazylinalg_s: +ours.toFixed(3),
    ratio: +(ours / scipy.total_s).toFixed(2), scipy_cpu_s: +scipy.cpu_s.toFixed(3), lazylinalg_cpu_s: +oursCpu.toFixed(3),
    cpuRatio: +(oursCpu / scipy.cpu_s).toFixed(2), maxRelDiffToScipy: +rel.toExponential(1), restarts: res.iterations, opApplications: res.matvecs,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log('\n| n | scipy (dense K + LU + ARPACK) s | lazylinalg s | lazylinalg / scipy |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.n} | ${r.scipy_s} | ${r.lazylinalg_s} | ${r.ratio} |`);
await shutdownCpuPool();
