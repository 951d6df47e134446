/**
 * The cost of norm2's range check on the hot path (issue 16, item 6): CPU products of the Laplacian kernel
 * exp(−‖x − y‖/σ) (denseCache 'never', so every product evaluates the formula) in float64 and float32 at d = 3
 * (unrolled code) and d = 64 (the loop over components), for this checkout's dist/ and a baseline build, in one
 * process, alternating the two sides every repetition. Prints each side's median wall and CPU time (all threads) and
 * the ratios this/baseline, and the largest relative difference of the two sides' products.
 *
 *   npm run build && node bench/norm2-cost.mjs --baseline /tmp/norm2-before [--n 20000] [--reps 7] [--dims 3,64] [--kernel gaussian]
 *
 * The baseline is a checkout (its dist/ is used) or a dist directory, e.g. main built in a worktree:
 *   git worktree add /tmp/norm2-before main && ln -s "$PWD/node_modules" /tmp/norm2-before/ && (cd /tmp/norm2-before && npm run build)
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const baselineArg = arg('baseline');
if (!baselineArg) {
  console.error('usage: node bench/norm2-cost.mjs --baseline <checkout or dist> [--n 20000] [--reps 7] [--dims 3,64]');
  process.exit(2);
}
const n = Number(arg('n', 20000));
const reps = Number(arg('reps', 7));
const dims = arg('dims', '3,64').split(',').map(Number);
// --kernel gaussian: the same comparison for the Gaussian (sqnorm2: the unrolled sums formed for all units at once)
const kernel = `${arg('kernel', 'laplacian')}Kernel`;
if (kernel !== 'laplacianKernel' && kernel !== 'gaussianKernel') throw new Error(`--kernel must be laplacian or gaussian, got ${arg('kernel')}`);

const distOf = (dir) => (existsSync(join(dir, 'dist', 'index.js')) ? join(dir, 'dist') : dir);
const here = new URL('.', import.meta.url).pathname;
const sides = await Promise.all([resolve(here, '../dist'), distOf(resolve(baselineArg))].map(async (dist) => (
  { dist, lib: await import(pathToFileURL(join(dist, 'index.js')).href) })));

function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`norm2 cost: ${kernel} products, n = ${n}, ${reps} repetitions per side (alternating), denseCache 'never'`);
console.log('dtype     d   this (ms)   baseline (ms)   this/baseline   this CPU ms   base CPU ms   CPU ratio   max rel. diff');
for (const d of dims) {
  const rng = seeded(17 + d);
  const data = new Float64Array(n * d).map(() => rng());
  const b = new Float64Array(n).map(() => rng() - 0.5);
  for (const dtype of ['float64', 'float32']) {
    const ops = sides.map(({ lib }) => lib[kernel]({ data, rows: n, cols: d }, { sigma: 0.5 * Math.sqrt(d / 3), dtype, backend: 'cpu', denseCache: 'never' }));
    const times = sides.map(() => []);
    const cpu = sides.map(() => []); // CPU time of all threads: less disturbed by other processes than wall time
    const outs = [];
    for (const [s, K] of ops.entries()) outs[s] = await K.matvec(b); // warm-up: programs compiled, pool started
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(outs[0][i] - outs[1][i]) / (Math.abs(outs[1][i]) + 1e-300));
    for (let r = 0; r < reps; r++) {
      for (const [s, K] of (r % 2 === 0 ? ops.entries() : [...ops.entries()].reverse())) {
        const [t0, c0] = [performance.now(), process.cpuUsage()];
        await K.matvec(b);
        const c = process.cpuUsage(c0);
        times[s].push(performance.now() - t0);
        cpu[s].push((c.user + c.system) / 1000);
      }
    }
    const [a, base] = times.map(median);
    const [ca, cbase] = cpu.map(median);
    console.log(`${dtype}  ${String(d).padStart(3)}  ${a.toFixed(1).padStart(10)}  ${base.toFixed(1).padStart(14)}  ${(a / base).toFixed(3).padStart(14)}`
      + `  ${ca.toFixed(1).padStart(12)}  ${cbase.toFixed(1).padStart(12)}  ${(ca / cbase).toFixed(3).padStart(10)}   ${worst.toExponential(1)}`);
  }
}
// each side's worker pool
for (const { dist } of sides) await (await import(pathToFileURL(join(dist, 'api.js')).href)).shutdownCpuPool();
