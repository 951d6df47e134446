/** The formula layer: AST, builder, string parsing, analysis and the JS oracle. */
export * from './ast.js';
export { FormulaError } from './errors.js';
export { toBoundData, type PointsLike, type FlatPoints } from './points.js';
export { constant, variable, unary, binary, reduce, dot } from './nodes.js';
export { Formula, Vi, Vj, Pm, min, max, type FormulaLike } from './builder.js';
export {
  MAX_KMIN_K, reductionSpec, alongJ, reductionShape, resultWidth, componentOf, evaluateReductionJs, checkRowFilled,
  shapeKminResult, registerReductionExecutor, runReduction,
  type ReductionKind, type ReductionSpec, type ReductionResult, type ReductionOptions, type ValuesAndIndices, type Axis,
} from './reduction.js';
export { parseFormula, type FormulaScope, type ScopeValue } from './parse.js';
export {
  collectVariables, variableSlots, formulaKey, dependencies, swapIJ, rowCounts, children,
  type FormulaVariables,
} from './analyze.js';
export { formatNode, describeNode, formatNumber } from './print.js';
export { applyUnary, applyBinary, applyReduce, powInt, isSmallIntegerExponent, MAX_UNROLLED_POWER } from './scalar-ops.js';
export {
  compileScalarJs, compileScalarJsSource, evaluateDenseJs, evaluateDiagonalJs, numberLiteral,
  UNROLL_MAX_DIM, type ScalarKernel,
} from './emit-js.js';
export { gradient, gradients, partialDerivative, unitVector } from './derivative.js';
