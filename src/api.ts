/**
 * lazylinalg's public API, shared by the Node entry (index.ts) and the browser entry (browser.ts); each entry
 * installs its host's platform (CPU threads and memory, mathjs loading) before this module is evaluated.
 */
export {
  LinearOperator, SumOperator, ScaledOperator, ProductOperator, ShiftedOperator, TransposedOperator,
  DenseOperator, DiagonalOperator, IdentityOperator, ZeroOperator,
  aslinearoperator, FunctionOperator,
  KernelOperator, kernelOperator,
  gaussianKernel, laplacianKernel, maternKernel, cauchyKernel, polynomialKernel, linearKernel,
  DENSE_CACHE_AFTER_PRODUCTS, defaultDenseCacheBytes, REFINEMENT_MAX_FLOOR,
} from './operators/index.js';
export { dmmv, mm } from './operators/falkon.js';
export type { MmOptions } from './operators/falkon.js';
export { cdist, kernelFromDescriptor, descriptorFormula } from './operators/cdist.js';
export type { CdistOptions, KernelDescriptor, DescriptorKernelOptions } from './operators/cdist.js';
export type {
  Dtype, VectorLike, BlockLike, LinearOperatorOptions, DenseOperatorOptions, OperatorSpec,
  KernelOperatorOptions, KernelOptions, BandwidthKernelOptions, MaternKernelOptions, PolynomialKernelOptions,
  BackendChoice, DenseCachePolicy,
} from './operators/index.js';
export { OptionTypeError, OptionRangeError } from './operators/options.js';
export { Formula, Vi, Vj, Pm, parseFormula, FormulaError } from './formula/index.js';
export { min, max, MAX_KMIN_K } from './formula/index.js';
export type { ReductionKind, ReductionOptions, ReductionResult, ReductionSpec, ValuesAndIndices } from './formula/index.js';
export type { PointsLike, FormulaLike, FormulaScope } from './formula/index.js';
export { setCpuThreads, shutdownCpuPool } from './cpu/pool.js';
export { emptyMemoryCache, recycledMemoryBytes } from './cpu/memory-pool.js';
export { setBackend, getBackendInfo, GpuUnavailableError, GpuOutOfMemoryError, GPU_AUTO_MIN_PAIRS } from './gpu/device.js';
export type { BackendSetting, BackendInfo, AdapterDescription, GpuLimits, SetBackendOptions } from './gpu/device.js';
export { setGpuProfiling, lastGpuProfile } from './gpu/reduce.js';
export type { GpuKernelOptions, GpuProfile } from './gpu/reduce.js';
export * from './krylov/index.js';
export {
  nystromPreconditioner, jacobiPreconditioner, pivotedCholeskyPreconditioner, partialPivotedCholesky, landmarkPreconditioner,
  NystromPreconditioner, LandmarkPreconditioner, JacobiPreconditioner, PivotedCholeskyPreconditioner, Preconditioner,
  preconditionerFor, defaultPreconditionerChoice, defaultMaxRank, MAX_CACHED_PRECONDITIONERS, AUTO_MIN_N, DEFAULT_NYSTROM_TOLERANCE, PRECONDITIONER_CHOICES,
  deviceLandmarkPreconditioner, DeviceLandmarkPreconditioner, cgIterationBound,
  adaptiveLandmarkPreconditioner, landmarkStages, AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS, FarthestPointOrder, farthestPointLandmarks,
  preconditionedConditionEstimate,
  solveShifted, solvePlan, planShiftedInverse, choleskyFactorPreconditioner, CholeskyFactorPreconditioner, NotPositiveDefinite,
} from './preconditioners/index.js';
export type {
  NystromOptions, NystromMethod, NystromStage, LandmarkOptions, LandmarkSelection, PivotedCholeskyOptions, PartialCholesky,
  PreconditionerChoice, PreconditionerOptions, SolveOptions, SolvePlan, SolveResult, SolveMethod, DeviceLandmarkOptions, AdaptiveLandmarkOptions, LandmarkStage, LandmarkBuildTimings, PointRows,
} from './preconditioners/index.js';
export {
  spectralClustering, defaultSpectralSigma, defaultNeighbors, KernelRidge, r2Score, twoMoons, concentricCircles, adjustedRandIndex,
} from './apps/index.js';
export type {
  SpectralClusteringOptions, SpectralClusteringResult, SpectralProgress, KernelRidgeOptions, RidgeKernel, LabelledPoints, TwoMoonsOptions, CirclesOptions,
} from './apps/index.js';
export { matvecWithVjp, solveWithVjp, parameterDerivativeOperator, differentiableParameters } from './autodiff/index.js';
export type { KernelGradients, MatvecVjpGradients, MatvecWithVjp, SolveVjpGradients, SolveWithVjp } from './operators/vjp-types.js';
export { knn, KNN_METRICS } from './apps/knn.js';
export type { KnnOptions, KnnResult, KnnMetric } from './apps/knn.js';
export { logdet, inverseQuadLogdet, gpNegativeLogMarginalLikelihood, GP_DENSE_MAX_N, SlqNoConvergence } from './autodiff/index.js';
export type {
  LogdetOptions, LogdetResult, InverseQuadLogdetOptions, InverseQuadLogdetResult, GpOptions, GpResult, GpMethod, SlqPartialResult,
} from './autodiff/index.js';
