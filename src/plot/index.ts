/** Plots of results as Vega-Lite specs, rendered to SVG/PNG in Node. */
export { clusterSpec, curveSpec, surfaceSpec, spectrumSpec, residualSpec, sampleIndices, DEFAULT_MAX_POINTS } from './specs.js';
export type { PlotSpec, PlotPoints, ClusterPlotOptions, CurvePlotOptions, SurfacePlotOptions } from './specs.js';
export { renderSvg, renderPng, renderPlot, writePlot, checkPlotPath } from './render.js';
