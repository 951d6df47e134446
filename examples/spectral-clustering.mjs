// Spectral clustering of two moons and three concentric circles: a symbolic Gaussian affinity, its top eigenvectors,
// k-means on the embedding — and the adjusted Rand index against the true groups (1 = perfect).
// Run: npm run build && node examples/spectral-clustering.mjs      (LAZYLINALG_EXAMPLE_N=1000 for a quick run)
import { adjustedRandIndex, concentricCircles, spectralClustering, twoMoons } from 'lazylinalg';

const n = Number(process.env.LAZYLINALG_EXAMPLE_N ?? 3000);
const problems = [
  { name: 'two moons', data: twoMoons(n, { noise: 0.06, seed: 7 }), nClusters: 2 },
  { name: 'three circles', data: concentricCircles(n, { noise: 0.06, seed: 7 }), nClusters: 3 },
];

for (const { name, data, nClusters } of problems) {
  const t0 = performance.now();
  // σ omitted: a nearest-neighbour heuristic picks it, and the result says which
  const { labels, sigma, eigenvalues } = await spectralClustering(data.points, { nClusters, seed: 0 });
  const ms = (performance.now() - t0).toFixed(0);
  const sizes = Array.from({ length: nClusters }, (_, c) => labels.filter((l) => l === c).length);
  console.log(`${name}, n = ${n}: σ = ${sigma.toFixed(4)}, ${ms} ms`);
  console.log(`  eigenvalues ${Array.from(eigenvalues, (e) => e.toFixed(6)).join(', ')}; cluster sizes ${sizes.join(', ')}`);
  console.log(`  adjusted Rand index against the true groups: ${adjustedRandIndex(labels, data.labels).toFixed(4)}`);
}
