/**
 * Seeded toy data sets for clustering and regression demos: the same seed gives the same points on every platform
 * (mulberry32 and Box–Muller, no Math.random).
 */
import { mulberry32, normalDraw } from '../krylov/random.js';
import { nonNegativeNumber, integer, parseOptions, positiveInt, withDefault, checkArgument } from '../operators/options.js';

/** Points (n rows of 2 coordinates) and the label of the group each was drawn from. */
export interface LabelledPoints {
  /** The points row-major in one Float64Array: what every kernel and estimator takes, at any n. */
  readonly flat: { readonly data: Float64Array; readonly rows: number; readonly cols: number };
  /**
   * The same points as n rows [x, y], made at first access — refused beyond MAX_ROW_POINTS, where V8's heap cannot
   * hold n small arrays (1e8 of them ended the process: "JavaScript heap out of memory"): use `flat` there.
   */
  readonly points: number[][];
  readonly labels: Int32Array;
}

/**
 * Most points `points` makes as number[][]: ≈ 100 bytes of JS heap each (an array and its two doubles), 1e7 of them
 * took 1 GB and 7 s on the dev VM; V8's default heap (≈ 4 GB there) ran out between 1e7 and 1e8.
 */
export const MAX_ROW_POINTS = 10_000_000;

/** n points of 2 coordinates and their labels, written by `draw(i, out)` (out[0], out[1]; returns the label). */
function drawPoints(fn: string, n: number, draw: (i: number, out: Float64Array) => number): LabelledPoints {
  let data: Float64Array;
  let labels: Int32Array;
  try {
    data = new Float64Array(2 * n);
    labels = new Int32Array(n);
  } catch (error) {
    throw new RangeError(`${fn}: ${n} points need ${((2 * n * 8 + n * 4) / 2 ** 30).toFixed(1)} GiB, which this process could not allocate (${(error as Error).message})`);
  }
  const xy = new Float64Array(2);
  for (let i = 0; i < n; i++) {
    labels[i] = draw(i, xy);
    // a noise near float64's range puts ±∞ among the coordinates: refused here, not handed on
    if (!Number.isFinite(xy[0]! + xy[1]!)) throw new RangeError(`${fn}: point ${i} came out (${xy[0]}, ${xy[1]}): the noise overflows float64`);
    data[2 * i] = xy[0]!;
    data[2 * i + 1] = xy[1]!;
  }
  let rows: number[][] | undefined;
  return {
    flat: Object.freeze({ data, rows: n, cols: 2 }),
    get points(): number[][] {
      if (n > MAX_ROW_POINTS) {
        throw new RangeError(`${fn}: ${n} points as number[][] would need ≈ ${Math.round((n * 100) / 2 ** 30)} GiB of JavaScript heap (at most ${MAX_ROW_POINTS} are made); use .flat ({ data, rows, cols }), which every kernel and estimator takes`);
      }
      return (rows ??= Array.from({ length: n }, (_, i) => [data[2 * i]!, data[2 * i + 1]!]));
    },
    labels,
  };
}

export interface TwoMoonsOptions {
  /** Standard deviation of the Gaussian noise added to each coordinate (default 0.06). */
  noise?: number;
  /** Seed of the generator (default 7). */
  seed?: number;
}

export interface CirclesOptions extends TwoMoonsOptions {
  /** Number of concentric circles, of radii 1, 2, …, nCircles (default 3). */
  nCircles?: number;
}

const TWO_MOONS_SPEC = { noise: withDefault(nonNegativeNumber, 0.06), seed: withDefault(integer(), 7) };
const CIRCLES_SPEC = { ...TWO_MOONS_SPEC, nCircles: withDefault(integer({ min: 1, max: 1000 }), 3) };

/** Two interleaved half-moons (scikit-learn's `make_moons` shape) with Gaussian noise; labels 0 (upper), 1 (lower), alternating. */
export function twoMoons(n: number, options: TwoMoonsOptions = {}): LabelledPoints {
  checkArgument('twoMoons', 'n', n, positiveInt);
  const o = parseOptions('twoMoons', options, TWO_MOONS_SPEC);
  const rand = mulberry32(o.seed);
  const gauss = () => normalDraw(rand);
  return drawPoints('twoMoons', n, (i, out) => {
    const upper = i % 2 === 0;
    const t = Math.PI * rand();
    out[0] = (upper ? Math.cos(t) : 1 - Math.cos(t)) + o.noise * gauss();
    out[1] = (upper ? Math.sin(t) : 0.5 - Math.sin(t)) + o.noise * gauss();
    return upper ? 0 : 1;
  });
}

/**
 * Concentric circles of radii 1, 2, …, nCircles with Gaussian noise; point i lies on circle i mod nCircles (label),
 * so every circle has about n / nCircles points (the outer ones are sparser per unit length).
 */
export function concentricCircles(n: number, options: CirclesOptions = {}): LabelledPoints {
  checkArgument('concentricCircles', 'n', n, positiveInt);
  const o = parseOptions('concentricCircles', options, CIRCLES_SPEC);
  if (n < o.nCircles) throw new RangeError(`concentricCircles: n = ${n} points leave circles empty: at least nCircles = ${o.nCircles} are needed`);
  const rand = mulberry32(o.seed);
  const gauss = () => normalDraw(rand);
  return drawPoints('concentricCircles', n, (i, out) => {
    const c = i % o.nCircles;
    const t = 2 * Math.PI * rand();
    const r = c + 1;
    out[0] = r * Math.cos(t) + o.noise * gauss();
    out[1] = r * Math.sin(t) + o.noise * gauss();
    return c;
  });
}
