/**
 * The symmetric k-nearest-neighbour connectivity graph of scikit-learn's `affinity='nearest_neighbors'`:
 * C_ij = 1 when y_j is among the k nearest neighbours of x_i (each point its own first neighbour, as
 * `kneighbors_graph(include_self=True)`), W = (C + Cᵀ)/2 with its diagonal dropped (the Laplacian ignores
 * self-loops). Stored sparse, O(n·k), as a symmetric LinearOperator.
 */
import { LinearOperator } from '../operators/linear-operator.js';
import type { PointsLike } from '../formula/points.js';
import { knn } from './knn.js';

/** A symmetric n×n matrix in compressed sparse rows (both triangles stored). */
export class SymmetricSparseOperator extends LinearOperator {
  constructor(readonly n: number, readonly rowStart: Int32Array, readonly columns: Int32Array, readonly values: Float64Array) {
    super([n, n], 'float64', { symmetric: true });
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      let s = 0;
      for (let t = this.rowStart[i]!; t < this.rowStart[i + 1]!; t++) s += this.values[t]! * x[this.columns[t]!]!;
      out[i] = s;
    }
    return out;
  }

  /** Non-zeros stored. */
  get nnz(): number {
    return this.columns.length;
  }
}

/** W = (C + Cᵀ)/2 without its diagonal, C the k-NN connectivity of `points` (see the module comment). */
export async function knnConnectivity(
  points: PointsLike, nNeighbors: number, options: { backend?: 'auto' | 'cpu' | 'gpu'; dtype?: 'float32' | 'float64' } = {},
): Promise<SymmetricSparseOperator> {
  const { indices } = await knn(points, points, nNeighbors, { metric: 'sqeuclidean', ...options });
  const n = indices.length / nNeighbors;
  // entries (i, j) of C and of Cᵀ, each weighing 1/2; duplicates add up to 1 where the link is mutual
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < nNeighbors; t++) {
      const j = indices[i * nNeighbors + t]!;
      if (j === i) continue;
      rows[i]!.set(j, (rows[i]!.get(j) ?? 0) + 0.5);
      rows[j]!.set(i, (rows[j]!.get(i) ?? 0) + 0.5);
    }
  }
  const rowStart = new Int32Array(n + 1);
  rows.forEach((r, i) => { rowStart[i + 1] = rowStart[i]! + r.size; });
  const columns = new Int32Array(rowStart[n]!);
  const values = new Float64Array(rowStart[n]!);
  rows.forEach((r, i) => {
    let t = rowStart[i]!;
    for (const j of [...r.keys()].sort((a, b) => a - b)) { columns[t] = j; values[t++] = r.get(j)!; }
  });
  return new SymmetricSparseOperator(n, rowStart, columns, values);
}

/** The connected components of W's graph (union–find over its stored entries). */
export function connectedComponents(W: SymmetricSparseOperator): number {
  const parent = Int32Array.from({ length: W.n }, (_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  let components = W.n;
  for (let i = 0; i < W.n; i++) {
    for (let t = W.rowStart[i]!; t < W.rowStart[i + 1]!; t++) {
      const a = root(i);
      const b = root(W.columns[t]!);
      if (a !== b) {
        parent[a] = b;
        components--;
      }
    }
  }
  return components;
}
