// The algebra classes are defined next to LinearOperator (one module, no import cycle); see linear-operator.ts.
export { SumOperator, ScaledOperator, ProductOperator, ShiftedOperator, TransposedOperator } from './linear-operator.js';
