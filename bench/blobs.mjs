// The benchmarks' three Gaussian blobs (bench/gpu-runs.mjs spectral --data=blobs, bench/spectral-stages.mjs): one
// definition, so both measure the same points.
import { mulberry32 } from '../dist/index.js';

/** Three isotropic Gaussians in 3-D (standard deviation `noise`) centred on the corners of a unit triangle, seeded. */
export function gaussianBlobs(n, noise) {
  const rand = mulberry32(1);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const centres = [[0, 0, 0], [1, 0, 0], [0.5, Math.sqrt(3) / 2, 0]];
  const data = new Float64Array(3 * n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let c = 0; c < 3; c++) data[3 * i + c] = centres[i % 3][c] + noise * gauss();
  }
  return { data, labels, dim: 3 };
}
