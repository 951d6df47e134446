/**
 * The measurements behind LANDMARK_ITERATION_CALIBRATION and FIRST_DOUBLING_RATIO (src/preconditioners/landmarks-auto.ts):
 * for each landmark selection and m = 256 … 2048, the 8-step κ̂ estimate of P⁻¹(K + αI), the CG iterations to rtol 1e-6,
 * their ratio to ½·ln(2/rtol)·√κ̂, and κ̂'s ratio over a doubling. Gaussian σ = 0.1, n = 8000 uniform points in [0,1]³
 * (mulberry32(1)), α = 1e-3, b uniform in [−½, ½], CPU float64.
 *
 *   npm run build:bench && node build/bench/landmark-calibration.js
 */
import { cg, gaussianKernel, landmarkPreconditioner, mulberry32, preconditionedConditionEstimate, shutdownCpuPool } from 'lazylinalg';

async function main(): Promise<void> {
  const n = 8000;
  const alpha = 1e-3;
  const rtol = 1e-6;
  const r = mulberry32(1);
  const X = Array.from({ length: n }, () => [r(), r(), r()]);
  const b = Float64Array.from({ length: n }, () => r() - 0.5);
  const K = gaussianKernel(X, { sigma: 0.1 });
  for (const landmarks of ['farthest-point', 'uniform'] as const) {
    let previous: number | undefined;
    for (const m of [256, 512, 1024, 2048]) {
      const P = await landmarkPreconditioner(K, { rank: m, shift: alpha, seed: 0, landmarks });
      const est = await preconditionedConditionEstimate(K, P, alpha, 8, 0);
      const res = await cg(K.shift(alpha), b, { M: P, rtol, maxiter: 5000 });
      const bound = 0.5 * Math.log(2 / rtol) * Math.sqrt(est.kappa);
      console.log(JSON.stringify({
        landmarks, m, kappaHat: +est.kappa.toPrecision(4), iterations: res.iterations, ratio: +(res.iterations / bound).toFixed(2),
        ...(previous !== undefined ? { doublingRatio: +((est.kappa - 1) / (previous - 1)).toFixed(3) } : {}),
      }));
      previous = est.kappa;
      await P.dispose();
    }
  }
  await shutdownCpuPool();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
