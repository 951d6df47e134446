/**
 * The one place where operators reach up to src/krylov (see DESIGN.md "Layout"): never a static
 * import, so there is no cycle and no hard dependency. The krylov module is found either through
 * `registerKrylovModule` (krylov may call it when loaded; tests use it for fakes) or by a lazy
 * dynamic import of '../krylov/index.js' resolved relative to this file at runtime.
 */
import type { LinearOperator } from './linear-operator.js';
import type { Matrix } from 'ml-matrix';

/** The slice of src/krylov that the eigsh/solve conveniences need; typed loosely on purpose. */
export interface KrylovModule {
  eigsh(A: LinearOperator, k: number | undefined, options: unknown): Promise<EigshResultLike>;
  cg(A: LinearOperator, b: Float64Array | Matrix, options: unknown): Promise<SolveResultLike>;
  /** Mixed-precision refinement (src/krylov/refine.ts); a module without it gets plain cg on the accurate operator. */
  refinedCg?(A: LinearOperator, b: Float64Array, options: unknown): Promise<SolveResultLike>;
}

/** What `solve` reads of a cg result (src/krylov owns the real type). */
export interface SolveResultLike {
  x: Float64Array | Matrix;
  info?: number;
  message?: string;
  /** cg's cause of a breakdown (info < 0): 'preconditioner' when rᵀM r ≤ 0. */
  breakdown?: string;
}

let registered: KrylovModule | undefined;

/** Makes `m` the module used by `LinearOperator.eigsh/solve` (pass undefined to go back to the lazy import). */
export function registerKrylovModule(m: KrylovModule | undefined): void {
  registered = m;
}

/** The registered krylov module, else `import('../krylov/index.js')` (a variable specifier, so tsc does not resolve it). */
export async function loadKrylovModule(): Promise<KrylovModule> {
  if (registered) return registered;
  const spec = new URL('../krylov/index.js', import.meta.url).href;
  let m: unknown;
  try {
    m = await import(/* @vite-ignore */ spec);
  } catch (cause) {
    throw new Error(`eigsh/solve need the krylov module (${spec}), which could not be loaded`, { cause });
  }
  const candidate = m as Partial<KrylovModule>;
  if (typeof candidate.eigsh !== 'function' || typeof candidate.cg !== 'function') {
    throw new Error(`the krylov module (${spec}) does not export eigsh and cg functions`);
  }
  return candidate as KrylovModule;
}

/** What `eigsh` returns (DESIGN.md "Solvers"); src/krylov owns the real type, this is its structural twin. */
export interface EigshResultLike {
  eigenvalues: Float64Array;
  eigenvectors?: Matrix;
  iterations: number;
  matvecs: number;
}
