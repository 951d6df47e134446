/**
 * Seeded toy data sets for clustering and regression demos: the same seed gives the same points on every platform
 * (mulberry32 and Box–Muller, no Math.random).
 */
import { mulberry32, normalDraw } from '../krylov/random.js';
import { nonNegativeNumber, integer, parseOptions, positiveInt, withDefault, checkArgument } from '../operators/options.js';

/** Points (n rows of d coordinates) and the label of the group each was drawn from. */
export interface LabelledPoints {
  readonly points: number[][];
  readonly labels: Int32Array;
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
  const points: number[][] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const upper = i % 2 === 0;
    const t = Math.PI * rand();
    const [x, y] = upper ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
    points.push([x + o.noise * gauss(), y + o.noise * gauss()]);
    labels[i] = upper ? 0 : 1;
  }
  return { points, labels };
}

/**
 * Concentric circles of radii 1, 2, …, nCircles with Gaussian noise; point i lies on circle i mod nCircles (label),
 * so every circle has about n / nCircles points (the outer ones are sparser per unit length).
 */
export function concentricCircles(n: number, options: CirclesOptions = {}): LabelledPoints {
  checkArgument('concentricCircles', 'n', n, positiveInt);
  const o = parseOptions('concentricCircles', options, CIRCLES_SPEC);
  const rand = mulberry32(o.seed);
  const gauss = () => normalDraw(rand);
  const points: number[][] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % o.nCircles;
    const t = 2 * Math.PI * rand();
    const r = c + 1;
    points.push([r * Math.cos(t) + o.noise * gauss(), r * Math.sin(t) + o.noise * gauss()]);
    labels[i] = c;
  }
  return { points, labels };
}
