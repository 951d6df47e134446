/**
 * Access to the pieces of a kernel matrix that low-rank preconditioners need, straight from the
 * formula: K on a subset of its points (K_nm, K_mm as kernel operators on rebound variables),
 * single columns K e_p and row blocks — never a full product to fetch one column.
 */
import type { BinaryNode, DotNode, Node, ReduceNode, UnaryNode, VarNode } from '../formula/ast.js';
import { isBinary, isReduce, isUnary } from '../formula/ast.js';
import { binary, dot, reduce, unary, variable } from '../formula/nodes.js';
import { compileScalarJs, type ScalarKernel } from '../formula/emit-js.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import type { LinearOperator } from '../operators/linear-operator.js';

/** Row subsets for the i and/or j variables; an omitted side keeps all its rows. */
export interface RowSelection {
  i?: Int32Array | readonly number[];
  j?: Int32Array | readonly number[];
}

/**
 * The formula with every i (and/or j) variable rebound to the selected rows of its data: the
 * formula of K[I, J]. Parameters and constants are shared; every node is rebuilt through the
 * checking constructors, memoised so a shared subtree stays shared (the same idea as swapIJ).
 */
export function restrictRows(node: Node, rows: RowSelection): Node {
  const memo = new Map<Node, Node>();
  const rebind = (v: VarNode): Node => {
    const sel = v.cat === 'i' ? rows.i : v.cat === 'j' ? rows.j : undefined;
    if (!sel) return v;
    const { data, cols } = v.value;
    const out = new Float64Array(sel.length * cols);
    for (let r = 0; r < sel.length; r++) {
      const src = sel[r]!;
      if (!Number.isInteger(src) || src < 0 || src >= v.value.rows) {
        throw new RangeError(`restrictRows: row index ${src} out of range for '${v.name}' with ${v.value.rows} rows`);
      }
      out.set(data.subarray(src * cols, (src + 1) * cols), r * cols);
    }
    return variable(v.cat, v.name, Object.freeze({ data: out, rows: sel.length, cols }));
  };
  const walk = (n: Node): Node => {
    const hit = memo.get(n);
    if (hit) return hit;
    let out: Node;
    if (n.op === 'var') out = rebind(n);
    else if (n.op === 'const') out = n;
    else if (isUnary(n)) out = unary((n as UnaryNode).op, walk((n as UnaryNode).arg));
    else if (isReduce(n)) out = reduce((n as ReduceNode).op, walk((n as ReduceNode).arg));
    else if (n.op === 'dot') out = dot(walk((n as DotNode).left), walk((n as DotNode).right));
    else if (isBinary(n)) out = binary((n as BinaryNode).op, walk((n as BinaryNode).left), walk((n as BinaryNode).right));
    else throw new Error(`restrictRows: unknown node '${(n as Node).op}'`);
    memo.set(n, out);
    return out;
  };
  return walk(node);
}

/** K[I, J] as a KernelOperator on the same backend and precision as K. */
export function subKernel(K: KernelOperator, rows: RowSelection, label: string): KernelOperator {
  const sameSet = rows.i !== undefined && rows.j !== undefined && rows.i === rows.j;
  return new KernelOperator(restrictRows(K.formula.node, rows), {
    backend: K.backend,
    dtype: K.dtype,
    params: K.params,
    symmetric: K.symmetric && sameSet,
    label,
    denseCache: 'never', // a factor of a preconditioner: its own product budget decides
  });
}

/**
 * Column source for pivoted Cholesky: K e_p. For a KernelOperator it is evaluated from the formula
 * on one point (n kernel evaluations, float64, by the scalar JS twin — no full product, no
 * per-column compilation); for any other operator it costs one matvec with e_p.
 */
export interface ColumnSource {
  column(p: number): Promise<Float64Array>;
  diagonal(): Promise<Float64Array>;
  /** Whether a column costs a full product (non-kernel operators). */
  readonly viaProduct: boolean;
}

export function columnSource(A: LinearOperator): ColumnSource {
  const n = A.shape[0];
  if (A instanceof KernelOperator) {
    let k: ScalarKernel | undefined;
    return {
      viaProduct: false,
      diagonal: () => A.diagonal(),
      column: async (p) => {
        k ??= compileScalarJs(A.formula.node);
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = k(i, p);
        return out;
      },
    };
  }
  return {
    viaProduct: true,
    diagonal: () => A.diagonal(),
    column: (p) => {
      const e = new Float64Array(n);
      e[p] = 1;
      return A.matvec(e);
    },
  };
}

/** The rows I of K[:, J] as a dense |I|×|J| row-major block, by the scalar JS twin. */
export function kernelBlock(kernel: ScalarKernel, rows: ArrayLike<number>, cols: ArrayLike<number>): Float64Array {
  const m = cols.length;
  const out = new Float64Array(rows.length * m);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r]!;
    for (let c = 0; c < m; c++) out[r * m + c] = kernel(i, cols[c]!);
  }
  return out;
}
