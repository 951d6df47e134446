/**
 * A scalar formula is also a matrix: `F.matvec(v)`, `F.solve(b, α)`, `F.eigsh(k)` run on the kernel operator of F.
 * The formula layer sits below the operators (DESIGN.md "Layout"), so it cannot build one itself: the operators
 * layer registers the factory here when it loads (src/operators/kernel-operator.ts), and each Formula gets one
 * operator, built at its first use and kept (its dense cache and preconditioners then serve later calls).
 */
import type { Matrix } from 'ml-matrix';
import { FormulaError } from './errors.js';

type Vector = Float64Array | Float32Array | number[];
type Block = Matrix | number[][];

/** What a formula's operator offers (the operators layer's KernelOperator; typed structurally, no upward import). */
export interface FormulaOperator {
  readonly shape: readonly [number, number];
  readonly symmetric: boolean;
  matvec(x: Vector): Promise<Float64Array>;
  rmatvec(x: Vector): Promise<Float64Array>;
  matmat(X: Block): Promise<Matrix>;
  solve(b: Vector | Block, alpha?: number, options?: object): Promise<Float64Array | Matrix | object>;
  eigsh(k?: number, options?: object): Promise<FormulaEigsh>;
  toDense(): Promise<Matrix>;
}

/** What `eigsh` returns (src/krylov owns the real type). */
export interface FormulaEigsh {
  eigenvalues: Float64Array;
  eigenvectors?: Matrix;
  iterations: number;
  matvecs: number;
}

let factory: ((formula: object) => FormulaOperator) | undefined;
const operators = new WeakMap<object, FormulaOperator>();

/** Called once by the operators layer: how a scalar formula becomes its kernel operator. */
export function registerFormulaOperator(make: (formula: object) => FormulaOperator): void {
  factory = make;
}

/** The operator of `formula`, built once (default options: `kernelOperator(F, options)` takes others). */
export function formulaOperator(formula: object): FormulaOperator {
  let op = operators.get(formula);
  if (op === undefined) {
    if (factory === undefined) {
      throw new FormulaError("a formula's products need the operators layer: import lazylinalg (or src/operators) before calling matvec/solve/eigsh on a Formula");
    }
    op = factory(formula);
    operators.set(formula, op);
  }
  return op;
}
