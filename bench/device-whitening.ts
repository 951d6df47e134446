/**
 * The device-landmark preconditioner's whitening shift δ and rank m (issue 5; src/preconditioners/device-landmarks.ts,
 * WHITENING_SHIFT_FACTOR): for each m and δ, the build (its stages), one P⁻¹ application timed three times, then CG
 * on the compensated operator K + αI (what `K.solve` runs at α = 1e-3) to rtol 1e-6, with the time spent in the
 * products and in P⁻¹. Gaussian σ = 0.1, points uniform in [0,1]³ (mulberry32(7)), b uniform in [−½, ½]
 * (mulberry32(8)), α = 1e-3. δ 'default' is `defaultWhiteningJitter`.
 *
 *   npm run build:bench && node build/bench/device-whitening.js <n> <m,…> <δ,…|default>
 */
import {
  aslinearoperator, cg, deviceLandmarkPreconditioner, gaussianKernel, mulberry32, setBackend, type LinearOperator,
} from 'lazylinalg';

const log = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

/** A view of `A` whose products add their wall time to `spent.ms`. */
function timed(A: LinearOperator, spent: { ms: number }): { shape: readonly [number, number]; symmetric: true; matvec: (x: Float64Array) => Promise<Float64Array> } {
  return {
    shape: A.shape,
    symmetric: true,
    matvec: async (x) => {
      const t = performance.now();
      const y = (await A.matvec(x)) as Float64Array;
      spent.ms += performance.now() - t;
      return y;
    },
  };
}

async function main(): Promise<void> {
  await setBackend('gpu');
  const n = Number(process.argv[2] ?? 1048576);
  const ms = (process.argv[3] ?? '8192').split(',').map(Number);
  const deltas = (process.argv[4] ?? 'default').split(',');
  const alpha = 1e-3;
  const rp = mulberry32(7);
  const data = Float64Array.from({ length: 3 * n }, () => rp());
  const points = { data, rows: n, cols: 3 };
  const rb = mulberry32(8);
  const b = Float64Array.from({ length: n }, () => rb() - 0.5);
  const bNorm = Math.sqrt(b.reduce((s, v) => s + v * v, 0));
  const K = gaussianKernel(points, { sigma: 0.1, backend: 'gpu' });
  const A = gaussianKernel(points, { sigma: 0.1, backend: 'gpu', gpu: { compensated: true } }).shift(alpha);
  for (const m of ms) {
    for (const d of deltas) {
      const t0 = performance.now();
      const P = await deviceLandmarkPreconditioner(K, {
        shift: alpha, rank: m, ...(d === 'default' ? {} : { whiteningJitter: Number(d) }),
        onProgress: (p) => log({ kind: 'stage', m, stage: p.stage, elapsedS: +(p.elapsedMs / 1e3).toFixed(2) }),
      });
      const buildS = (performance.now() - t0) / 1e3;
      log({ kind: 'build', m, delta: P.whiteningJitter, buildS: +buildS.toFixed(2), preconditioner: String(P) });
      const apply: number[] = [];
      for (let r = 0; r < 3; r++) {
        const t = performance.now();
        await P.matvec(b);
        apply.push(+(performance.now() - t).toFixed(1));
      }
      const product = { ms: 0 };
      const precond = { ms: 0 };
      const t1 = performance.now();
      const result = await cg(aslinearoperator(timed(A, product)), b, {
        M: aslinearoperator(timed(P, precond)), rtol: 1e-6, maxiter: 150,
        onProgress: (p) => {
          if (p.iteration % 5 === 0) log({ kind: 'progress', m, iteration: p.iteration, relResidual: +(p.residualNorm / bNorm).toPrecision(3), elapsedS: +(p.elapsedMs / 1e3).toFixed(2) });
        },
      });
      const solveS = (performance.now() - t1) / 1e3;
      log({
        kind: 'solve', n, m, delta: P.whiteningJitter, iterations: result.iterations, info: result.info,
        buildS: +buildS.toFixed(2), solveS: +solveS.toFixed(2), totalS: +(buildS + solveS).toFixed(2),
        productS: +(product.ms / 1e3).toFixed(2), precondS: +(precond.ms / 1e3).toFixed(2), applyMs: apply,
      });
      await P.dispose();
    }
  }
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
