// `lazylinalg cluster points.csv --clusters 3 --plot out.png` on large CSV files (issue 17's must-show):
// wall time and peak resident memory of the whole command (/usr/bin/time -v: the process, its worker
// threads included), at several n, so that the growth of memory with n can be read off. Below n ≈ 32,000
// the kernel operator's 'auto' dense cache may store K (packed float32, within its budget: ⅛ of RAM, at
// most 2 GiB) and the peak includes it (1.55 GiB at n = 25,000); above that, nothing n×n is stored and
// memory is O(n·d). The points are three noisy concentric circles (d = 2, seeded); their true
// labels go to a second file, and the CLI prints the adjusted Rand index against them (--truth).
// Usage: npm run build && node bench/cli-cluster.mjs [n ...]        (default: 25000 100000)
//        KEEP=1 keeps the generated files and plots in bench/cli-cluster-out/.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli/main.js');
const out = join(root, 'bench/cli-cluster-out');
const sizes = process.argv.slice(2).map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 100)) throw new Error('sizes must be integers ≥ 100');

/** Three concentric circles of radii 1, 2, 3 with Gaussian noise 0.1 (mulberry32 + Box–Muller). */
function circles(n, seed = 11) {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const rows = [];
  const labels = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const t = 2 * Math.PI * rand();
    rows.push(`${((c + 1) * Math.cos(t) + 0.1 * gauss()).toFixed(6)},${((c + 1) * Math.sin(t) + 0.1 * gauss()).toFixed(6)}`);
    labels.push(c);
  }
  return { csv: `x,y\n${rows.join('\n')}\n`, labels: `label\n${labels.join('\n')}\n` };
}

mkdirSync(out, { recursive: true });
const results = [];
for (const n of sizes.length ? sizes : [25_000, 100_000]) {
  const { csv, labels } = circles(n);
  const points = join(out, `points-${n}.csv`);
  const truth = join(out, `labels-${n}.csv`);
  writeFileSync(points, csv);
  writeFileSync(truth, labels);
  const plot = join(out, `clusters-${n}.png`);
  const args = [cli, 'cluster', points, '--clusters', '3', '--plot', plot, '--truth', truth];
  console.log(`n = ${n} (${(statSync(points).size / 2 ** 20).toFixed(1)} MiB CSV): lazylinalg ${args.slice(1).join(' ')}`);
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  const field = (name) => new RegExp(`${name}: (.*)`).exec(r.stderr)?.[1]?.trim();
  const rssMiB = Number(field('Maximum resident set size \\(kbytes\\)')) / 1024;
  const [m, s] = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)').split(':').slice(-2).map(Number);
  const wall = m * 60 + s;
  console.log(r.stdout.replace(/^/gm, '  '));
  const ari = /adjusted Rand index[^:]*: ([0-9.]+)/.exec(r.stdout)?.[1];
  results.push({ n, wallSeconds: wall, peakRssMiB: Math.round(rssMiB), ari: ari === undefined ? null : Number(ari), plotBytes: statSync(plot).size });
}
const node = execFileSync(process.execPath, ['-e', 'console.log(Math.round(process.resourceUsage().maxRSS / 1024))'], { encoding: 'utf8' }).trim();
console.log(`\ncores: ${availableParallelism()}; a bare node process peaks at ${node} MiB`);
console.log('n        wall (s)  peak RSS (MiB)  ARI');
for (const r of results) console.log(`${String(r.n).padEnd(8)} ${r.wallSeconds.toFixed(1).padStart(8)}  ${String(r.peakRssMiB).padStart(14)}  ${r.ari ?? '-'}`);
if (results.length > 1) {
  const [a, b] = [results[0], results[results.length - 1]];
  console.log(`memory growth: ${(((b.peakRssMiB - a.peakRssMiB) * 2 ** 20) / (b.n - a.n)).toFixed(0)} bytes per extra point (d = 2)`);
}
console.log(JSON.stringify(results));
if (!process.env.KEEP) rmSync(out, { recursive: true, force: true });
