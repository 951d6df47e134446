/** Types of bench/algebra-fuzz.mjs for test/operators/algebra-fuzz.test.ts (the script itself runs from dist/). */
export interface FuzzFailure {
  readonly case: number;
  readonly check: string;
  readonly detail: string;
  readonly label: string;
  readonly op: string;
  /** ‖M‖₁ of a square tree where the solvers ran. */
  readonly norm?: number;
  readonly n: number;
  /** The id of the known finding that explains it (in `known` only). */
  readonly known?: string;
}

export interface KnownFinding {
  readonly id: string;
  readonly why: string;
  matches(f: FuzzFailure): boolean;
}

export const KNOWN_FINDINGS: readonly KnownFinding[];

export interface FuzzCounts {
  run: number;
  refused: number;
  noConvergence: number;
}

export interface FuzzTally {
  cases: number;
  gpuTrees: number;
  largeTrees: number;
  checks: number;
  failures: FuzzFailure[];
  /** Failures a known finding explains (reported, not fixed here). */
  known: FuzzFailure[];
  refusals: number;
  noConvergence: number;
  gaps: string[];
  byKind: Record<string, FuzzCounts>;
}

export interface FuzzOptions {
  cases?: number;
  seed?: number;
  /** GPU kernel leaves (half of the kernel leaves) as well as CPU ones. */
  gpu?: boolean;
  /** The share of trees with n in 41–60 (Lanczos and the symmetry probe rather than dense paths). */
  large?: number;
  /** The share of those with n in 370–410 (the worker pool). */
  hugeShare?: number;
  /** The share of trees whose square leaves may be Jacobi or Nyström preconditioners. */
  withPreconditioners?: number;
  onCase?: (c: number, tree: { label: string }, tally: { failures: FuzzFailure[] }) => void;
}

/** The library under test: dist/index.js from the command, src/index.ts from the test. */
export function fuzz(lib: unknown, options?: FuzzOptions): Promise<FuzzTally>;
export function mulberry32(seed: number): () => number;
