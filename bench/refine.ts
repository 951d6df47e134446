/**
 * GPU `K.solve` with and without mixed-precision refinement (issue 5): where the float32 floor 2⁻²⁴·λ̂/α lies between
 * rtol/10 and REFINEMENT_MAX_FLOOR, `K.solve` refines (inner PCG on float32 products, true residuals by the
 * compensated twin); `refine: false` runs CG on the twin throughout. Gaussian σ = 0.1, uniform float32 points in
 * [0,1]³ (mulberry32(5)), b uniform in [−½, ½], the default preconditioner (built once, shared by both).
 *
 *   npm run build:bench && node build/bench/refine.js [n] [α] [rtol] [reps]     (defaults 4096, 1e-2, 1e-8, 2)
 *
 * Each solve's residual is verified with a compensated product against b.
 */
import { gaussianKernel, setBackend, mulberry32, REFINEMENT_MAX_FLOOR } from 'lazylinalg';

async function main(): Promise<void> {
  await setBackend('gpu');
  const n = Number(process.argv[2] ?? 4096);
  const alpha = Number(process.argv[3] ?? 1e-2);
  const rtol = Number(process.argv[4] ?? 1e-8);
  const reps = Number(process.argv[5] ?? 2);
  const r = mulberry32(5);
  const X = Array.from({ length: n }, () => [Math.fround(r()), Math.fround(r()), Math.fround(r())]);
  const b = Float64Array.from({ length: n }, () => r() - 0.5);
  const K = gaussianKernel(X, { sigma: 0.1, backend: 'gpu' });
  const twin = gaussianKernel(X, { sigma: 0.1, backend: 'gpu', gpu: { compensated: true } }).shift(alpha);
  const ones = await K.matvec(new Float64Array(n).fill(1));
  const lambda = Math.hypot(...ones) / Math.sqrt(n);
  const floor = 2 ** -24 * lambda / alpha;
  const M = await K.preconditioner(alpha);
  console.log(JSON.stringify({ n, alpha, rtol, lambdaHat: +lambda.toPrecision(4), float32Floor: +floor.toPrecision(3), refinementMaxFloor: REFINEMENT_MAX_FLOOR, preconditioner: String(M) }));
  let bNorm = 0;
  for (const v of b) bNorm += v * v;
  bNorm = Math.sqrt(bNorm);
  for (let rep = 0; rep < reps; rep++) {
    for (const refine of [true, false]) {
      let iterations = 0;
      let outer = 0;
      const t = performance.now();
      const x = await K.solve(b, alpha, { rtol, refine, onProgress: (p: { iteration: number }) => { iterations = p.iteration; }, onOuter: () => { outer++; } });
      const seconds = (performance.now() - t) / 1e3;
      const Ax = await twin.matvec(x);
      let e = 0;
      for (let i = 0; i < n; i++) e += (Ax[i]! - b[i]!) ** 2;
      console.log(JSON.stringify({ refine, seconds: +seconds.toFixed(2), iterations, outerSteps: outer, verifiedResidual: +(Math.sqrt(e) / bNorm).toPrecision(3) }));
    }
  }
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
