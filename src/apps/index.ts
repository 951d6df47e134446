/** Applications built on the operators and solvers: spectral clustering, kernel ridge regression, toy data, metrics. */
export {
  spectralClustering, defaultSpectralSigma, defaultNeighbors, SIGMA_SAMPLE,
  type SpectralClusteringOptions, type SpectralClusteringResult, type SpectralProgress,
} from './spectral-clustering.js';
export { twoMoons, concentricCircles, type LabelledPoints, type TwoMoonsOptions, type CirclesOptions } from './datasets.js';
export { adjustedRandIndex } from './metrics.js';
export { KernelRidge, r2Score, type KernelRidgeOptions, type RidgeKernel, type TargetsLike } from './kernel-ridge.js';
export { knn, KNN_METRICS, type KnnOptions, type KnnResult, type KnnMetric } from './knn.js';
export { knnConnectivity, SymmetricSparseOperator } from './knn-graph.js';
