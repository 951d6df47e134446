/**
 * KernelOperator's `matvecWithVjp`/`solveWithVjp` conveniences reach src/autodiff (a floor above operators) by a
 * lazy import with a runtime specifier, as `solve` reaches src/preconditioners: no static cycle.
 */
import type { KernelOperator } from './kernel-operator.js';
import type { BlockLike, KrylovOptions, VectorLike } from './types.js';
import type { MatvecWithVjp, SolveWithVjp } from './vjp-types.js';

/** The slice of src/autodiff the conveniences need. */
export interface AutodiffModule {
  matvecWithVjp(K: KernelOperator, v: VectorLike | BlockLike): Promise<MatvecWithVjp>;
  solveWithVjp(K: KernelOperator, b: VectorLike | BlockLike, alpha: number, options: KrylovOptions | undefined): Promise<SolveWithVjp>;
}

let autodiffModule: Promise<AutodiffModule> | undefined;

/** Makes `m` the module the conveniences use instead of the lazy import (the browser entry registers it). */
export function registerAutodiffModule(m: AutodiffModule): void {
  autodiffModule = Promise.resolve(m);
}

export function loadAutodiffModule(): Promise<AutodiffModule> {
  autodiffModule ??= (async () => {
    const spec = new URL('../autodiff/index.js', import.meta.url).href;
    let m: unknown;
    try {
      m = await import(/* @vite-ignore */ spec);
    } catch (cause) {
      throw new Error(`matvecWithVjp/solveWithVjp need the autodiff module (${spec}), which could not be loaded`, { cause });
    }
    const candidate = m as Partial<AutodiffModule>;
    if (typeof candidate.matvecWithVjp !== 'function' || typeof candidate.solveWithVjp !== 'function') {
      throw new Error(`the autodiff module (${spec}) does not export matvecWithVjp and solveWithVjp`);
    }
    return candidate as AutodiffModule;
  })();
  autodiffModule.catch(() => { autodiffModule = undefined; });
  return autodiffModule;
}
