/**
 * spectralClustering's k-NN affinity against scikit-learn (fixture from test/fixtures/make_spectral_knn_fixture.py):
 * the sparse connectivity graph equals 0.5·(C + Cᵀ) of kneighbors_graph(include_self=True) off the diagonal, and
 * the clustering of two moons matches SpectralClustering(affinity='nearest_neighbors') and the true labels.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, spectralClustering } from '../../src/index.js';
import { knnConnectivity } from '../../src/apps/knn-graph.js';

interface Fixture {
  points: number[][];
  truth: number[];
  labels: number[];
  graph: { n: number; nNeighbors: number; W: number[][] };
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/spectral_knn_sklearn.json', import.meta.url), 'utf8')) as Fixture;

describe("spectralClustering, affinity 'knn'", () => {
  it("the graph is scikit-learn's symmetric kneighbors_graph without its diagonal, stored sparse", async () => {
    const { n, nNeighbors, W } = fx.graph;
    const G = await knnConnectivity(fx.points.slice(0, n), nNeighbors, { backend: 'cpu' });
    expect(G.symmetric).toBe(true);
    expect(G.nnz).toBeLessThanOrEqual(2 * n * nNeighbors);
    const dense = await G.toDense();
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(dense.get(i, j)).toBe(i === j ? 0 : W[i]![j]);
  });

  it('clusters two moons at least as well as scikit-learn on the same graph (ARI against the truth and its labels)', async () => {
    const r = await spectralClustering(fx.points, { nClusters: 2, affinity: 'knn', nNeighbors: 10, seed: 0, backend: 'cpu' });
    const truth = Int32Array.from(fx.truth);
    const sklearn = Int32Array.from(fx.labels);
    // same graph; the embeddings differ (rows normalised here as Ng–Jordan–Weiss, scaled by D^-1/2 in scikit-learn)
    expect(adjustedRandIndex(r.labels, truth)).toBeGreaterThanOrEqual(0.95);
    expect(adjustedRandIndex(r.labels, truth)).toBeGreaterThanOrEqual(adjustedRandIndex(sklearn, truth));
    expect(adjustedRandIndex(r.labels, sklearn)).toBeGreaterThanOrEqual(0.9);
    expect(Number.isNaN(r.sigma)).toBe(true);
    const rbf = await spectralClustering(fx.points, { nClusters: 2, seed: 0, backend: 'cpu', sigma: 1.5 }); // too wide a bandwidth for moons
    expect(adjustedRandIndex(rbf.labels, truth)).toBeLessThan(adjustedRandIndex(r.labels, truth));
  });

  it('refuses sigma with knn, nNeighbors with rbf, and too many neighbours', async () => {
    await expect(spectralClustering(fx.points, { nClusters: 2, affinity: 'knn', sigma: 0.1 })).rejects.toThrow(/sigma applies to affinity 'rbf' only/);
    await expect(spectralClustering(fx.points, { nClusters: 2, nNeighbors: 5 })).rejects.toThrow(/nNeighbors applies to affinity 'knn' only/);
    await expect(spectralClustering(fx.points, { nClusters: 2, affinity: 'knn', nNeighbors: 65 })).rejects.toThrow(/nNeighbors/);
    await expect(spectralClustering(fx.points, { nClusters: 2, affinity: 'knnn' as never })).rejects.toThrow(/affinity/);
  });
});
