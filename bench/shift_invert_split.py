#!/usr/bin/env python3
"""scipy side of bench/shift-invert-split.mjs: K by numpy, LU, one lu_solve (mean of 40), eigsh(A, 3, sigma=0) with
that LU as OPinv (counting its applications); end to end = K + eigsh(A, 3, sigma=0) as bench/shift_invert_scipy.py.

  python3 bench/shift_invert_split.py PATH n
"""
import json
import resource
import sys
import time

import numpy as np
import scipy.linalg as sl
import scipy.sparse.linalg as sla
from scipy.spatial.distance import cdist


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    X = np.fromfile(path, dtype=np.float64).reshape(n, 3)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    A = np.exp(-cdist(X, X) / 0.3)
    A[np.diag_indices(n)] += 0.1
    t1 = time.perf_counter()
    sla.eigsh(A, 3, sigma=0)
    t2 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    lu = sl.lu_factor(A)
    t3 = time.perf_counter()
    b = np.ones(n)
    for _ in range(40):
        sl.lu_solve(lu, b)
    t4 = time.perf_counter()
    count = [0]

    def apply(x):
        count[0] += 1
        return sl.lu_solve(lu, x)

    sla.eigsh(A, 3, sigma=0, OPinv=sla.LinearOperator((n, n), matvec=apply, dtype=np.float64))
    ms = lambda s: round(s * 1e3, 1)
    # pages first touched in the end-to-end part (numpy asks for transparent huge pages on large arrays) and system time
    touched = {'faults': r1.ru_minflt - r0.ru_minflt, 'sys_ms': ms(r1.ru_stime - r0.ru_stime)}
    print(json.dumps({**touched, 'build_ms': ms(t1 - t0), 'total_ms': ms(t2 - t0), 'lu_ms': ms(t3 - t2), 'solve_ms': round((t4 - t3) / 40 * 1e3, 2),
                      'applications': count[0]}))


if __name__ == '__main__':
    main()
