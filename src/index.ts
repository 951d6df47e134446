/** lazylinalg — symbolic kernel matrices as LinearOperators, with Krylov solvers on top (the Node entry). */
import './cpu/platform-node.js';
import './formula/mathjs-node.js';
import './gpu/dawn-node.js';

export * from './api.js';
// Plots render with vega + resvg (a native module): Node only, so not in api.ts (the browser entry's list).
export { clusterSpec, curveSpec, surfaceSpec, spectrumSpec, residualSpec, renderSvg, renderPng, writePlot } from './plot/index.js';
export type { PlotSpec, PlotPoints } from './plot/index.js';
