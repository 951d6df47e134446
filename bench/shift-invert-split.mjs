/**
 * Where the time of bench/shift-invert.mjs goes, beside scipy's, phase by phase (issue 16, item 15): the same problem
 * (A = K + 0.1·I, K = exp(−|x − y| / 0.3) of n uniform points in [0, 1]³, 3 eigenvalues nearest 0).
 * lazylinalg, in a fresh process per n: the first eigsh end to end (cold: programs compiled, pages first touched),
 * then on a second operator of the same points: K's store, the Cholesky factor of A (copy of the rows included), one
 * application of (A − σI)⁻¹ (two triangular solves, mean of 40), and eigsh again (warm). scipy: K by numpy, LU,
 * one lu_solve (mean of 40), eigsh with the same LU as OPinv (its application count).
 *
 *   npm run build && node bench/shift-invert-split.mjs [n …=1500 5000]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const sizes = process.argv.slice(2).filter((a) => a !== '--child').map(Number);

async function child(n, path) {
  const { laplacianKernel, shutdownCpuPool } = await import('../dist/index.js');
  const { factorShifted } = await import('../dist/preconditioners/dense-factor.js');
  const { readFileSync } = await import('node:fs');
  const data = new Float64Array(readFileSync(path).buffer.slice(0));
  const make = () => laplacianKernel({ data, rows: n, cols: 3 }, { sigma: 0.3, backend: 'cpu' });
  const ms = (t) => +(performance.now() - t).toFixed(1);
  // the calling thread's minor faults (Linux: /proc/thread-self/stat, field 10)
  const thread = () => {
    try {
      const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
      return { faults: Number(f[7]) };
    } catch {
      return { faults: NaN };
    }
  };
  let t = performance.now();
  const r0 = process.resourceUsage();
  const th0 = thread();
  const cold = await make().shift(0.1).eigsh(3, { sigma: 0 });
  const eigshCold = ms(t);
  const r1 = process.resourceUsage();
  const th1 = thread();
  // pages first touched (4 KiB each: ≈ 10 µs apiece on the VM measured) and the system time they cost; those of the
  // calling thread apart (the others' are prefaults on the host's threads, and the workers')
  const touched = {
    faults: r1.minorPageFault - r0.minorPageFault, sysMs: Math.round((r1.systemCPUTime - r0.systemCPUTime) / 1e3),
    threadFaults: th1.faults - th0.faults,
  };
  const K = make();
  t = performance.now();
  await K.denseSource().rows();
  const store = ms(t);
  t = performance.now();
  const F = await factorShifted(K, 0.1, { allowProducts: false });
  const factor = ms(t);
  const b = new Float64Array(n).fill(1);
  t = performance.now();
  for (let r = 0; r < 40; r++) F.solve(b);
  const solve = +(ms(t) / 40).toFixed(2);
  F.release();
  t = performance.now();
  const warm = await make().shift(0.1).eigsh(3, { sigma: 0 });
  const eigshWarm = ms(t);
  console.log(JSON.stringify({ eigshCold, ...touched, store, factor, solve, applications: warm.matvecs, eigshWarm, coldApplications: cold.matvecs }));
  await shutdownCpuPool();
}

if (process.argv.includes('--child')) {
  await child(Number(process.argv[3]), process.argv[4]);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'shift-invert-split-'));
  const { mulberry32 } = await import('../dist/index.js');
  console.log('| n | side | end to end ms | first-touch faults (MiB), system ms | K ms | factor ms | one application ms | applications | applications × one ms |\n|---|---|---|---|---|---|---|---|---|');
  for (const n of sizes.length ? sizes : [1500, 5000]) {
    const rand = mulberry32(n);
    const path = join(dir, `points-${n}.f64`);
    writeFileSync(path, new Uint8Array(Float64Array.from({ length: n * 3 }, () => rand()).buffer));
    const ours = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', String(n), path], { encoding: 'utf8' });
    if (ours.status !== 0) throw new Error(`lazylinalg side failed: ${ours.stderr}`);
    const o = JSON.parse(ours.stdout.trim().split('\n').at(-1));
    const py = spawnSync('python3', [join(here, 'shift_invert_split.py'), path, String(n)], { encoding: 'utf8' });
    if (py.status !== 0) throw new Error(`scipy side failed: ${py.stderr}`);
    const s = JSON.parse(py.stdout);
    const mib = (faults) => (faults * 4 / 1024).toFixed(0);
    console.log(`| ${n} | lazylinalg cold / warm | ${o.eigshCold} / ${o.eigshWarm} | ${o.faults} (${mib(o.faults)}; calling thread ${o.threadFaults}), ${o.sysMs} | ${o.store} | ${o.factor} | ${o.solve} | ${o.applications} | ${(o.solve * o.applications).toFixed(0)} |`);
    console.log(`| ${n} | scipy | ${s.total_ms} | ${s.faults} (${mib(s.faults)}), ${s.sys_ms} | ${s.build_ms} | ${s.lu_ms} | ${s.solve_ms} | ${s.applications} | ${(s.solve_ms * s.applications).toFixed(0)} |`);
  }
}
