/**
 * Shift-invert eigsh in a fresh process, beside scipy (issue 16, item 15): the fixed costs of a first call. The problem
 * of bench/shift-invert.mjs (A = K + 0.1·I, K = exp(−|x − y| / 0.3) of n uniform points in [0, 1]³, the 3 eigenvalues
 * nearest 0). Each repetition starts fresh processes, one per side, alternating: lazylinalg (this checkout's dist/;
 * with LAZYLINALG_PREFAULT=0 beside it, and another build's dist/ with --baseline), scipy (bench/shift_invert_scipy.py:
 * dense K by numpy, LU, ARPACK). Times from the operator's construction (the points given) to the eigenpairs, the
 * import not timed (scipy's likewise); medians and each side's ratio to scipy's median, with CPU times — of all
 * threads, and of the calling thread alone (Linux: the critical path's own work, steadier than wall time on a shared
 * machine); eigenvalues checked against scipy's (relative 1e-12).
 *
 *   npm run build && node bench/shift-invert-cold.mjs [--n 1500] [--reps 7] [--baseline /other/checkout/dist]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};

async function child(dist, path, n) {
  const { readFileSync } = await import('node:fs');
  const { laplacianKernel, shutdownCpuPool } = await import(join(dist, 'index.js'));
  const data = new Float64Array(readFileSync(path).buffer.slice(0));
  // this thread's CPU time (Linux): the work on the critical path, apart from the other cores' (V8's compiles, prefaults)
  const threadMs = () => {
    try {
      return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
    } catch {
      return NaN;
    }
  };
  const m0 = threadMs();
  const t0 = performance.now();
  const r0 = process.resourceUsage();
  const res = await laplacianKernel({ data, rows: n, cols: 3 }, { sigma: 0.3, backend: 'cpu' }).shift(0.1).eigsh(3, { sigma: 0 });
  const ms = performance.now() - t0;
  const r1 = process.resourceUsage();
  const cpuMs = (r1.userCPUTime - r0.userCPUTime + r1.systemCPUTime - r0.systemCPUTime) / 1e3;
  const mainMs = threadMs() - m0;
  console.log(JSON.stringify({ ms, cpuMs, mainMs, eigenvalues: Array.from(res.eigenvalues).sort((a, b) => a - b), matvecs: res.matvecs }));
  await shutdownCpuPool();
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
} else {
  const n = Number(arg('n', 1500));
  const reps = Number(arg('reps', 7));
  const here = new URL('.', import.meta.url).pathname;
  const sides = [
    { name: 'lazylinalg', dist: resolve(here, '../dist'), env: {} },
    { name: 'lazylinalg, LAZYLINALG_PREFAULT=0', dist: resolve(here, '../dist'), env: { LAZYLINALG_PREFAULT: '0' } },
  ];
  const baseline = arg('baseline');
  if (baseline) sides.push({ name: `baseline ${baseline}`, dist: resolve(baseline), env: {} });
  const { mulberry32 } = await import('../dist/index.js');
  const rand = mulberry32(n);
  const path = join(mkdtempSync(join(tmpdir(), 'shift-invert-cold-')), `points-${n}.f64`);
  writeFileSync(path, new Uint8Array(Float64Array.from({ length: n * 3 }, () => rand()).buffer));
  const times = new Map([...sides.map((s) => [s.name, []]), ['scipy', []]]);
  const cpu = new Map([...sides.map((s) => [s.name, []]), ['scipy', []]]);
  const main = new Map(sides.map((s) => [s.name, []]));
  let worst = 0;
  for (let r = 0; r < reps; r++) {
    const py = spawnSync('python3', [join(here, 'shift_invert_scipy.py'), path, String(n), '3', '0.3', '0.1'], { encoding: 'utf8' });
    if (py.status !== 0) throw new Error(`scipy side failed: ${py.stderr}`);
    const s = JSON.parse(py.stdout);
    times.get('scipy').push(s.total_s * 1e3);
    cpu.get('scipy').push(s.cpu_s * 1e3);
    for (const side of sides) {
      const out = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', side.dist, path, String(n)], {
        encoding: 'utf8', env: { ...process.env, ...side.env },
      });
      if (out.status !== 0) throw new Error(`${side.name} failed: ${out.stderr}`);
      const o = JSON.parse(out.stdout.trim().split('\n').at(-1));
      times.get(side.name).push(o.ms);
      cpu.get(side.name).push(o.cpuMs);
      main.get(side.name).push(o.mainMs);
      for (let i = 0; i < 3; i++) worst = Math.max(worst, Math.abs(o.eigenvalues[i] - s.eigenvalues[i]) / Math.abs(s.eigenvalues[i]));
    }
  }
  if (!(worst <= 1e-12)) throw new Error(`eigenvalues differ from scipy's by ${worst} (relative)`);
  const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const scipyMs = median(times.get('scipy'));
  console.log(`n = ${n}, ${reps} fresh processes a side (alternating), eigenvalues equal to scipy's to ${worst.toExponential(1)}`);
  console.log('| side | median ms | all ms | median CPU ms (all threads) | median CPU ms (calling thread) | / scipy |\n| --- | --- | --- | --- | --- | --- |');
  for (const [name, v] of times) {
    const calling = main.has(name) ? median(main.get(name)).toFixed(0) : '—';
    console.log(`| ${name} | ${median(v).toFixed(0)} | ${v.map((t) => t.toFixed(0)).join(' ')} | ${median(cpu.get(name)).toFixed(0)} | ${calling} | ${(median(v) / scipyMs).toFixed(2)} |`);
  }
}
