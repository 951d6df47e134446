#!/usr/bin/env python3
"""numpy reference for the CPU Gaussian matvec benchmark (run side by side by bench/cpu-matvec).

K v with K_ij = exp(-|x_i - y_j|^2 / (2 sigma^2)), computed the fastest plain-numpy way:
row chunks of scipy's cdist (sqeuclidean), exp in place, then a BLAS gemv. float64.
Prints one JSON line per size: {"n": ..., "seconds": best-of-reps, "pairs_per_s": ...}.
"""
import json
import sys
import time

import numpy as np
from scipy.spatial.distance import cdist

SIGMA = 0.1
CHUNK = 2048


def gaussian_matvec(x, y, v, sigma, chunk=CHUNK):
    g = 1.0 / (2.0 * sigma * sigma)
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        d2 = cdist(x[s:s + chunk], y, "sqeuclidean")
        np.multiply(d2, -g, out=d2)
        np.exp(d2, out=d2)
        out[s:s + chunk] = d2 @ v
    return out


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [8192, 32768]
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.random((n, 3))
        v = rng.random(n) - 0.5
        gaussian_matvec(x[:256], x, v, SIGMA)  # warm-up
        reps = 5 if n <= 10000 else 2
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            gaussian_matvec(x, x, v, SIGMA)
            best = min(best, time.perf_counter() - t0)
        print(json.dumps({"impl": "numpy", "n": n, "seconds": best, "pairs_per_s": n * n / best,
                          "numpy": np.__version__}), flush=True)


if __name__ == "__main__":
    main()
