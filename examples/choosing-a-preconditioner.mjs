// Choosing a preconditioner for (K + αI) a = b: plain CG against randomized Nyström and landmark (Falkon-style)
// Nyström, then what K.solve picks by itself (solvePlan says why).
// Run: npm run build && node examples/choosing-a-preconditioner.mjs      (LAZYLINALG_EXAMPLE_N=1500 for a quick run)
import { cg, gaussianKernel, nystromPreconditioner, solvePlan } from 'lazylinalg';
import { seeded } from './random.mjs';

const n = Number(process.env.LAZYLINALG_EXAMPLE_N ?? 5_000);
const { rand, gauss } = seeded(3);
const sigma = 0.1, alpha = 1e-2, rtol = 1e-6;
const x = Array.from({ length: n }, () => [rand(), rand()]);
const b = Float64Array.from(x, ([u, v]) => Math.sin(5 * u) * Math.cos(3 * v) + 0.1 * gauss());
const K = gaussianKernel(x, { sigma });
const A = K.shift(alpha); // K + αI, lazily

const candidates = {
  'none': async () => undefined,
  'randomized Nyström, ℓ = 200': () => nystromPreconditioner(K, { shift: alpha, rank: 200, seed: 0 }),
  'landmarks, m = 200': () => nystromPreconditioner(K, { shift: alpha, rank: 200, method: 'landmarks' }),
  'landmarks, m = 800': () => nystromPreconditioner(K, { shift: alpha, rank: Math.min(800, n - 1), method: 'landmarks' }),
};
console.log(`${K}, α = ${alpha}, rtol = ${rtol}`);
for (const [name, build] of Object.entries(candidates)) {
  let t0 = performance.now();
  const M = await build();
  const buildMs = performance.now() - t0;
  t0 = performance.now();
  const r = await cg(A, b, { rtol, maxiter: 5000, ...(M ? { M } : {}) });
  const solveMs = performance.now() - t0;
  console.log(`  ${name.padEnd(30)} ${String(r.iterations).padStart(5)} iterations   build ${buildMs.toFixed(0).padStart(6)} ms   solve ${solveMs.toFixed(0).padStart(6)} ms   info ${r.info}`);
}

const plan = await solvePlan(K, b, alpha, { rtol });
console.log(`K.solve(b, ${alpha}) would use: ${plan.method}${plan.method === 'cholesky' ? '' : ` with preconditioner '${plan.preconditioner}'`} — ${plan.reason}`);
