/**
 * The device-landmark preconditioner's jitter rule (issue 5; src/preconditioners/device-landmarks.ts): for each landmark
 * selection, the measured bottom of νI + E, the jitter and the whitening δ chosen, then CG iterations to rtol 1e-8 on float64 CPU
 * products with the device preconditioner and with the float64 host landmark preconditioner on the same landmarks
 * (the preconditioners alone compared: no float32 floor). Gaussian σ = 0.1, float32 points uniform in [0,1]³
 * (mulberry32(21)), b uniform in [−½, ½], μ = 1e-3.
 *
 *   npm run build:bench && node build/bench/device-jitter.js <n> <m> [farthest-point,uniform]
 */
import {
  cg, deviceLandmarkPreconditioner, gaussianKernel, landmarkPreconditioner, mulberry32, setBackend, shutdownCpuPool,
} from 'lazylinalg';

async function main(): Promise<void> {
  await setBackend('gpu');
  const n = Number(process.argv[2] ?? 4000);
  const m = Number(process.argv[3] ?? 800);
  const selections = (process.argv[4] ?? 'farthest-point,uniform').split(',') as ('farthest-point' | 'uniform')[];
  const alpha = 1e-3;
  const r = mulberry32(21);
  const X = Array.from({ length: n }, () => [Math.fround(r()), Math.fround(r()), Math.fround(r())]);
  const b = Float64Array.from({ length: n }, () => r() - 0.5);
  const Kg = gaussianKernel(X, { sigma: 0.1, backend: 'gpu' });
  const Kc = gaussianKernel(X, { sigma: 0.1, backend: 'cpu', denseCache: 'never' });
  const A = Kc.shift(alpha);
  for (const landmarks of selections) {
    const stages: string[] = [];
    const P = await deviceLandmarkPreconditioner(Kg, { shift: alpha, rank: m, landmarks, onProgress: (s) => stages.push(s.stage) });
    const device = await cg(A, b, { M: P, rtol: 1e-8, maxiter: 3000 });
    const H = await landmarkPreconditioner(Kc, { shift: alpha, rank: m, landmarks });
    const host = await cg(A, b, { M: H, rtol: 1e-8, maxiter: 3000 });
    console.log(JSON.stringify({
      n, m, landmarks, stage: stages.find((s) => s.startsWith('bottom')), jitter: P.jitter, whiteningJitter: P.whiteningJitter,
      deviceIterations: device.iterations, deviceInfo: device.info, hostIterations: host.iterations,
    }));
    await P.dispose();
    await H.dispose();
  }
  await shutdownCpuPool();
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
