/**
 * Preconditioners for (A + shift·I) x = b: each is a symmetric positive definite LinearOperator
 * applying P⁻¹ ≈ (A + shift·I)⁻¹, for `cg(A.shift(shift), b, { M })`.
 * `LinearOperator.solve/preconditioner` reach this module lazily (see src/operators/linear-operator.ts).
 */
export {
  nystromPreconditioner, randomizedNystrom, NystromPreconditioner, type NystromOptions, type NystromMethod, type NystromStage,
} from './nystrom.js';
export {
  defaultMaxRank, DEFAULT_NYSTROM_TOLERANCE, DEFAULT_ITERATIONS_PER_SQRT_KAPPA, nystromDecision, stageMultiplyAdds, applyMultiplyAdds,
  nystromNextStep, nystromStepRanks, nystromDecayPerDoubling, ITERATION_CALIBRATION, CG_BOUND_ITERATIONS_PER_SQRT_KAPPA,
  type NystromDecision, type NystromCostModel, type NystromStep,
} from './nystrom-cost.js';
export {
  landmarkPreconditioner, LandmarkPreconditioner, DEFAULT_MAX_STORED_BYTES,
  type LandmarkOptions, type LandmarkSelection, type LandmarkBuildTimings,
} from './landmarks.js';
export {
  adaptiveLandmarkPreconditioner, landmarkStages, landmarkWarmStart, preconditionedConditionEstimate, landmarkIterations,
  LANDMARK_ESTIMATE_STEPS, FIRST_DOUBLING_RATIO, DEFAULT_INITIAL_LANDMARKS, LANDMARK_ITERATION_CALIBRATION,
  type AdaptiveLandmarkOptions, type LandmarkStage, type PcgState,
} from './landmarks-auto.js';
export {
  deviceLandmarkPreconditioner, DeviceLandmarkPreconditioner, DEFAULT_DEVICE_LANDMARKS, DEFAULT_DEVICE_TAU, defaultDeviceLandmarks,
  GRAM_FLOOR_SAFETY, GRAM_FLOOR_STEPS, MIN_RELATIVE_JITTER, coreBottom, STIFFEN_FACTOR, MIN_DEVICE_LANDMARKS,
  WHITENING_FLOAT32_JITTER, WHITENING_SHIFT_FACTOR, WHITENING_MIN_RELATIVE_JITTER, defaultWhiteningJitter,
  type DeviceLandmarkOptions,
} from './device-landmarks.js';
export { FarthestPointOrder, farthestPointLandmarks, kernelPointRows, type PointRows } from './farthest-point.js';
export { jacobiPreconditioner, JacobiPreconditioner } from './jacobi.js';
export {
  pivotedCholeskyPreconditioner, partialPivotedCholesky, PivotedCholeskyPreconditioner,
  type PivotedCholeskyOptions, type PartialCholesky,
} from './pivoted-cholesky.js';
export { Preconditioner } from './common.js';
export { restrictRows, subKernel, type RowSelection } from './kernel-access.js';
export {
  preconditionerFor, warmStartFor, disposePreconditioners, buildPreconditioner, defaultPreconditionerChoice, AUTO_MIN_N, PRECONDITIONER_CHOICES,
  AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS, cgIterationBound, MAX_CACHED_PRECONDITIONERS,
  type PreconditionerChoice, type PreconditionerOptions,
} from './auto.js';
export {
  choleskyFactorPreconditioner, CholeskyFactorPreconditioner, NotPositiveDefinite, factorShifted, affineParts,
  type DenseShiftedFactor, type DenseEntriesSource,
} from './dense-factor.js';
export {
  solveShifted, solvePlan, assertSolvable, SOLVE_SPEC, CHOLESKY_MADD_COST, FACTOR_SOLVE_PRODUCTS, PRECONDITIONED_CG_BUILD_PRODUCTS, PRECONDITIONED_CG_PRODUCTS_PER_COLUMN, FACTOR_REFINEMENT_STEPS,
  FLOAT32_FACTOR_MIN_N, FLOAT32_FACTOR_N_PER_COLUMN, FLOAT32_FACTOR_MAX_KAPPA_EPS, autoFactorDtype,
  planShiftedInverse, MATERIALISE_BY_PRODUCTS_MAX_N,
  type SolveOptions, type SolvePlan, type SolveResult, type SolveMethod, type ShiftedInversePlan, type ShiftedInverseMethod,
} from './solve.js';
