/**
 * Which preconditioner 'auto' should pick on the GPU backend (issue 5): device landmarks (default m) against
 * randomized Nyström (rank 'auto'), each built from the GPU operator, then CG on float64 CPU products so that the
 * iteration counts measure the preconditioners alone (no float32 floor). Gaussian σ = 0.1, uniform points in
 * [0,1]³ (mulberry32(1)), b uniform in [−½, ½], rtol 1e-6.
 *
 *   npm run build:bench && node build/bench/precond-choice.js [n] [α]     (defaults 12000, 1e-3)
 *
 * On llvmpipe the build times say little about a GPU; the iteration counts do not depend on the device.
 */
import { cg, gaussianKernel, mulberry32, shutdownCpuPool } from 'lazylinalg';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 12000);
  const alpha = Number(process.argv[3] ?? 1e-3);
  const r = mulberry32(1);
  const X = Array.from({ length: n }, () => [Math.fround(r()), Math.fround(r()), Math.fround(r())]);
  const b = Float64Array.from({ length: n }, () => r() - 0.5);
  const Kc = gaussianKernel(X, { sigma: 0.1, backend: 'cpu' });
  const Kg = gaussianKernel(X, { sigma: 0.1, backend: 'gpu' });
  const A = Kc.shift(alpha);
  for (const choice of ['device-landmarks', 'nystrom'] as const) {
    const t = performance.now();
    const M = await Kg.preconditioner(alpha, choice);
    const buildS = (performance.now() - t) / 1e3;
    const res = await cg(A, b, { ...(M ? { M } : {}), rtol: 1e-6, maxiter: 5000 });
    console.log(JSON.stringify({ n, alpha, choice, preconditioner: String(M), buildS: +buildS.toFixed(2), iterations: res.iterations, info: res.info }));
  }
  const plain = await cg(A, b, { rtol: 1e-6, maxiter: 20000 });
  console.log(JSON.stringify({ n, alpha, choice: 'none', iterations: plain.iterations, info: plain.info }));
  await shutdownCpuPool();
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
