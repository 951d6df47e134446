// The top eigenpairs of a large kernel matrix, never stored: aslinearoperator(K).eigsh(5), as KeOps + scipy's
// eigsh(aslinearoperator(K_xx), k=5). Each pair is checked by its true residual.
// Run: npm run build && node examples/eigsh-large-kernel.mjs      (LAZYLINALG_EXAMPLE_N=2000 for a quick run)
import { aslinearoperator, gaussianKernel } from 'lazylinalg';
import { seeded } from './random.mjs';

const N = Number(process.env.LAZYLINALG_EXAMPLE_N ?? 20_000);
const { gauss } = seeded(2);
const x = Array.from({ length: N }, () => [gauss(), gauss()]);
const K = gaussianKernel(x, { sigma: 1 }); // exp(-|x - y|²/2)

const t0 = performance.now();
const { eigenvalues, eigenvectors, matvecs } = await aslinearoperator(K).eigsh(5, {
  seed: 0,
  onProgress: ({ iteration, matvecs, nconv }) => console.log(`  restart ${iteration}: ${matvecs} products, ${nconv}/5 converged`),
});
console.log(`${K}: 5 largest eigenvalues in ${(performance.now() - t0).toFixed(0)} ms, ${matvecs} products`);

for (let k = 0; k < eigenvalues.length; k++) {
  const v = eigenvectors.getColumn(k);
  const Kv = await K.matvec(v);
  const residual = Math.hypot(...Kv.map((y, i) => y - eigenvalues[k] * v[i])) / eigenvalues[k];
  console.log(`  λ = ${eigenvalues[k].toFixed(4)}   ‖Kv − λv‖/λ = ${residual.toExponential(1)}`);
}
