/**
 * The gradient of a bilinear form wᵀ K v (summed over the columns of blocks W, V) with respect to what K is made
 * of — its points and parameters — as kernel reductions with the symbolic derivatives of K's formula:
 *   ∂/∂θ    = Σ_c w_cᵀ (∂K/∂θ) v_c
 *   ∂/∂x_ik = Σ_c W_ic (D_k V)_ic          D_k = ∂K/∂x_k (row side)
 *   ∂/∂y_jk = Σ_c V_jc (E_kᵀ W)_jc         E_k = ∂K/∂y_k (column side)
 * Both products of a matvec's VJP (w = ȳ, v) and of a solve's (w = −λ, v = x: the pair terms λ_i x_j + x_i λ_j).
 */
import { Matrix } from 'ml-matrix';
import { Block } from '../operators/block.js';
import type { KernelOperator } from '../operators/kernel-operator.js';
import { matmatBlock } from '../operators/linear-operator.js';
import type { KernelGradients } from '../operators/vjp-types.js';
import { differentiableParameters, parameterDerivativeOperator, pointDerivativeOperators } from './kernel-derivatives.js';

/** Σ_ic A_ic B_ic. */
function frobenius(A: Block, B: Block): number {
  let s = 0;
  for (let t = 0; t < A.data.length; t++) s += A.data[t]! * B.data[t]!;
  return s;
}

/** out[i] = Σ_c A_ic B_ic (blocks with the same shape). */
function rowDots(A: Block, B: Block): Float64Array {
  const out = new Float64Array(A.rows);
  for (let t = 0; t < A.data.length; t++) out[t % A.rows] += A.data[t]! * B.data[t]!;
  return out;
}

/** The columns `from`…`from + count` of B. */
function columnsOf(B: Block, from: number, count: number): Block {
  return new Block(B.data.subarray(from * B.rows, (from + count) * B.rows), B.rows, count);
}

/** The rows×d gradient whose column k is `column(k)`. */
async function pointGradient(ops: readonly KernelOperator[], rows: number, column: (k: number) => Promise<Float64Array>): Promise<Matrix> {
  const G = new Matrix(rows, ops.length);
  for (let k = 0; k < ops.length; k++) G.setColumn(k, Array.from(await column(k)));
  return G;
}

/** ∂(Σ_c w_cᵀ K v_c) with respect to K's points and parameters (module comment); W n×c, V m×c. */
export async function pairGradients(K: KernelOperator, W: Block, V: Block): Promise<KernelGradients> {
  const params: Record<string, number> = {};
  for (const name of differentiableParameters(K)) {
    params[name] = frobenius(W, await matmatBlock(parameterDerivativeOperator(K, name), V));
  }
  const [n, m] = K.shape;
  const c = V.cols;
  const rowOps = pointDerivativeOperators(K, 'i');
  if (K.symmetric) {
    // y is x and F(x, y) = F(y, x): E_kᵀ = D_k, so one product D_k·[V, W] serves both roles
    const both = Block.zeros(n, 2 * c);
    both.data.set(V.data);
    both.data.set(W.data, V.data.length);
    const x = await pointGradient(rowOps, n, async (k) => {
      const P = await matmatBlock(rowOps[k]!, both);
      const asRow = rowDots(W, columnsOf(P, 0, c));
      const asColumn = rowDots(V, columnsOf(P, c, c));
      return asRow.map((a, i) => a + asColumn[i]!);
    });
    return { x, params };
  }
  const x = await pointGradient(rowOps, n, async (k) => rowDots(W, await matmatBlock(rowOps[k]!, V)));
  const columnOps = pointDerivativeOperators(K, 'j');
  const y = await pointGradient(columnOps, m, async (k) => rowDots(V, await matmatBlock(columnOps[k]!.T, W)));
  return { x, y, params };
}
