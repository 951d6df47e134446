/**
 * How far logdet's SLQ estimate lands from the exact value, in units of its own `stderr`, over many seeds: a rank-one
 * linear kernel + 0.868·I at n = 194 (d = 1, points uniform in [0, 1]) with 32 probes — the case bench/grad-fuzz.mjs
 * flagged at 5.3 stderr. The exact value is (n − 1)·log α + log(α + ‖x‖²). Prints the quantiles of (value − exact) /
 * stderr and the worst absolute error, per preconditioner.
 *
 *   npm run build && node bench/logdet-tails.mjs [seeds=300] [preconditioners=none,jacobi,pivoted-cholesky:4]
 */
import { linearKernel, logdet, mulberry32 } from '../dist/index.js';

const seeds = Number(process.argv[2] ?? 300);
const preconditioners = (process.argv[3] ?? 'none,jacobi,pivoted-cholesky:4').split(',');
for (const spec of preconditioners) {
  const [preconditioner, rank] = spec.split(':');
  const rand = mulberry32(1);
  const zs = [];
  let worst = 0;
  for (let t = 0; t < seeds; t++) {
    const n = 194;
    const x = Array.from({ length: n }, () => [rand()]);
    const alpha = 0.868;
    let s2 = 0;
    for (const [v] of x) s2 += v * v;
    const exact = (n - 1) * Math.log(alpha) + Math.log(alpha + s2);
    const r = await logdet(linearKernel(x, { backend: 'cpu' }).shift(alpha), {
      probes: 32, seed: t, preconditioner, ...(rank ? { preconditionerOptions: { rank: Number(rank) } } : {}),
    });
    zs.push((r.value - exact) / r.stderr);
    worst = Math.max(worst, Math.abs(r.value - exact));
  }
  zs.sort((a, b) => a - b);
  const q = (p) => +zs[Math.floor(p * (zs.length - 1))].toFixed(2);
  console.log(JSON.stringify({
    preconditioner: spec, seeds, zQuantiles: { min: q(0), p1: q(0.01), p50: q(0.5), p99: q(0.99), max: q(1) },
    beyond3: zs.filter((z) => Math.abs(z) > 3).length, beyond5: zs.filter((z) => Math.abs(z) > 5).length, worstAbsError: +worst.toExponential(2),
  }));
}
