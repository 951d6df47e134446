#!/usr/bin/env python3
"""scipy side of bench/shift-invert.mjs: eigsh(A, 3, sigma=SIGMA) with A = K + alpha I, K the Laplacian kernel
exp(-|x - y| / s) of the points in PATH (float64, row-major n x d), built densely in numpy. Timed end to end:
K's construction (from the points) plus eigsh (scipy factors A - sigma I by LU, then ARPACK). Prints JSON.

  python3 bench/shift_invert_scipy.py PATH n d s alpha [SIGMA=0]
"""
import json
import resource
import sys
import time

import numpy as np
import scipy
import scipy.sparse.linalg as sla
from scipy.spatial.distance import cdist


def main():
    path, n, d, s, alpha = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    sigma = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    X = np.fromfile(path, dtype=np.float64).reshape(n, d)
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    c0 = time.process_time()
    A = np.exp(-cdist(X, X) / s)  # exact differences (|x|² + |y|² − 2x·y loses digits for close points)
    A[np.diag_indices(n)] += alpha
    t1 = time.perf_counter()
    vals, vecs = sla.eigsh(A, 3, sigma=sigma)
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    res = max(float(np.linalg.norm(A @ vecs[:, i] - vals[i] * vecs[:, i])) for i in range(3))
    print(json.dumps({'n': n, 'build_s': t1 - t0, 'eigsh_s': t2 - t1, 'total_s': t2 - t0, 'cpu_s': cpu, 'faults': faults,
                      'eigenvalues': sorted(float(v) for v in vals), 'maxResidual': res, 'scipy': scipy.__version__}))


if __name__ == '__main__':
    main()
