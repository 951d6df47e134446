/**
 * Shift-invert eigsh beside scipy (issue 16, item 15), in one command: A = K + 0.1·I, K the Laplacian kernel
 * exp(−|x − y| / 0.3) of n uniform points in [0, 1]³, the 3 eigenvalues nearest 0 (sigma = 0, which 'LM').
 * scipy: K built densely in numpy from the same points, eigsh(A, 3, sigma=0) (dense LU + ARPACK), timed with K's
 * construction (bench/shift_invert_scipy.py). lazylinalg: laplacianKernel(points).shift(0.1).eigsh(3, { sigma: 0 })
 * end to end (operator construction, A − σI materialised and factored once, Lanczos). Each side runs in a fresh
 * process per repetition (imports and the points' loading not timed), the two alternating; medians of the wall
 * times, and of the CPU times of all of each process's threads (steadier on a shared machine; OpenBLAS's waiting
 * threads count). A single run of either side varies by 20–60 % between fresh processes at n = 1,500.
 *
 *   npm run build && node bench/shift-invert.mjs [--reps 5] [--sigma 0] [n …=1500 5000]  (--sigma inside the spectrum, e.g. 0.5: A − σI indefinite, LU on both sides)
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../dist/index.js';

const pages4k = process.argv.includes('--reference-4k-pages');
let args = process.argv.slice(2).filter((a) => a !== '--reference-4k-pages');
/** The value after `flag` (removed from args with it), else `fallback`. */
const take = (flag, fallback) => {
  const at = args.indexOf(flag);
  if (at < 0) return fallback;
  const value = args[at + 1];
  args = args.filter((_, i) => i !== at && i !== at + 1);
  return value;
};
const reps = Number(take('--reps', 5));
if (!(Number.isInteger(reps) && reps > 0)) throw new RangeError(`--reps must be a positive integer, got ${reps}`);
// σ inside the spectrum (e.g. --sigma 0.5) makes A − σI indefinite: LU on both sides
const sigma = Number(take('--sigma', 0));
if (!Number.isFinite(sigma)) throw new RangeError(`--sigma must be a finite number`);
const sizes = args.map(Number);
const d = 3;
const s = 0.3;
const alpha = 0.1;
const dir = mkdtempSync(join(tmpdir(), 'shift-invert-'));
const lib = new URL('../dist/index.js', import.meta.url).href;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Our side in a fresh process: the points from the file, then the timed call; its result as JSON. */
const ours = (path, n) => `
const { readFileSync } = await import('node:fs');
const { laplacianKernel, shutdownCpuPool } = await import(${JSON.stringify(lib)});
const data = new Float64Array(readFileSync(${JSON.stringify(path)}).buffer.slice(0));
const t0 = performance.now();
const c0 = process.cpuUsage();
const f0 = process.resourceUsage().minorPageFault;
const res = await laplacianKernel({ data, rows: ${n}, cols: ${d} }, { sigma: ${s}, backend: 'cpu' }).shift(${alpha}).eigsh(3, { sigma: ${sigma} });
const seconds = (performance.now() - t0) / 1e3;
const cpu = process.cpuUsage(c0);
const faults = process.resourceUsage().minorPageFault - f0;
console.log(JSON.stringify({ seconds, cpu: (cpu.user + cpu.system) / 1e6, faults, eigenvalues: Array.from(res.eigenvalues), restarts: res.iterations, matvecs: res.matvecs }));
await shutdownCpuPool();`;

const rows = [];
for (const n of sizes.length ? sizes : [1500, 5000]) {
  const rand = mulberry32(n);
  const data = Float64Array.from({ length: n * d }, () => rand());
  const path = join(dir, `points-${n}.f64`);
  writeFileSync(path, new Uint8Array(data.buffer));
  const runs = { ours: [], oursCpu: [], oursFaults: [], scipy: [], scipyBuild: [], scipyCpu: [], scipyFaults: [], scipy4k: [], scipy4kFaults: [] };
  const scipyRun = (env) => {
    const py = spawnSync('python3', [new URL('./shift_invert_scipy.py', import.meta.url).pathname, path, String(n), String(d), String(s), String(alpha), String(sigma)], { encoding: 'utf8', env: { ...process.env, ...env } });
    if (py.status !== 0) throw new Error(`scipy side failed: ${py.stderr}`);
    return JSON.parse(py.stdout);
  };
  let rel = 0;
  let last;
  for (let r = 0; r < reps; r++) {
    const scipy = scipyRun({});
    if (pages4k) {
      const small = scipyRun({ NUMPY_MADVISE_HUGEPAGE: '0' });
      runs.scipy4k.push(small.total_s);
      runs.scipy4kFaults.push(small.faults);
    }
    const node = spawnSync(process.execPath, ['--input-type=module', '-e', ours(path, n)], { encoding: 'utf8' });
    if (node.status !== 0) throw new Error(`our side failed: ${node.stderr}`);
    last = JSON.parse(node.stdout);
    runs.ours.push(last.seconds);
    runs.oursCpu.push(last.cpu);
    runs.oursFaults.push(last.faults);
    runs.scipyFaults.push(scipy.faults);
    runs.scipy.push(scipy.total_s);
    runs.scipyBuild.push(scipy.build_s);
    runs.scipyCpu.push(scipy.cpu_s);
    rel = Math.max(rel, ...last.eigenvalues.map((v, i) => Math.abs(v - scipy.eigenvalues[i]) / Math.abs(scipy.eigenvalues[i])));
  }
  const row = {
    n, sigma, reps, scipy_s: +median(runs.scipy).toFixed(3), scipy_build_s: +median(runs.scipyBuild).toFixed(3), lazylinalg_s: +median(runs.ours).toFixed(3),
    ratio: +(median(runs.ours) / median(runs.scipy)).toFixed(2), scipy_cpu_s: +median(runs.scipyCpu).toFixed(3), lazylinalg_cpu_s: +median(runs.oursCpu).toFixed(3),
    cpuRatio: +(median(runs.oursCpu) / median(runs.scipyCpu)).toFixed(2),
    faults: { lazylinalg: median(runs.oursFaults), scipy: median(runs.scipyFaults) },
    ...(pages4k ? { scipy_4k_pages_s: +median(runs.scipy4k).toFixed(3), ratio_4k_pages: +(median(runs.ours) / median(runs.scipy4k)).toFixed(2), scipy_4k_pages_faults: median(runs.scipy4kFaults) } : {}),
    maxRelDiffToScipy: +rel.toExponential(1), restarts: last.restarts, opApplications: last.matvecs,
    runs: { lazylinalg: runs.ours.map((x) => +x.toFixed(3)), scipy: runs.scipy.map((x) => +x.toFixed(3)) },
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log(`\n| n | scipy (dense K + LU + ARPACK) s | lazylinalg s | lazylinalg / scipy |  (medians of ${reps} fresh processes each)\n|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.n} | ${r.scipy_s} | ${r.lazylinalg_s} | ${r.ratio} |`);
