#!/usr/bin/env python3
"""scipy side of the Krylov benchmark (issue 3): Gaussian kernel, d = 3, sigma = 0.1.

scipy's fastest path for this size: build the dense kernel matrix with numpy (chunked), then
ARPACK eigsh(K, 5) and cg(K + 1.0 I, b, rtol=1e-6). Both timed end to end (including building
K, which the lazy TypeScript operator never does). Prints one JSON object.

The points and right-hand side are written (little-endian float64, row-major) to
  bench/krylov_data/points-<n>.f64   (n x d)
  bench/krylov_data/b-<n>.f64        (n)
so the TypeScript side solves exactly the same problem. They come from
numpy.random.default_rng(seed): points = rng.random((n, d)), then b = rng.standard_normal(n).

  python3 bench/krylov_scipy.py                 # n = 16384 (about 1 minute, 2.1 GB for K)
  python3 bench/krylov_scipy.py --n 2000        # quick
"""
import argparse
import json
import os
import platform
import time

import numpy as np
import scipy
import scipy.sparse.linalg as sla

HERE = os.path.dirname(os.path.abspath(__file__))


def problem(n, d, seed, outdir):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    b = rng.standard_normal(n)
    os.makedirs(outdir, exist_ok=True)
    X.astype('<f8').tofile(os.path.join(outdir, f'points-{n}.f64'))
    b.astype('<f8').tofile(os.path.join(outdir, f'b-{n}.f64'))
    return X, b


def gaussian_dense(X, sigma, chunk=2048):
    """K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2)), built in row chunks to bound temporaries."""
    n = X.shape[0]
    K = np.empty((n, n))
    sq = (X * X).sum(1)
    g = -1.0 / (2 * sigma * sigma)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        D = sq[s:e, None] + sq[None, :] - 2.0 * (X[s:e] @ X.T)
        np.maximum(D, 0.0, out=D)
        D *= g
        np.exp(D, out=D)
        K[s:e] = D
    return K


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=16384)
    ap.add_argument('--d', type=int, default=3)
    ap.add_argument('--sigma', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--k', type=int, default=5)
    ap.add_argument('--alpha', type=float, default=1.0)
    ap.add_argument('--rtol', type=float, default=1e-6)
    ap.add_argument('--outdir', default=os.path.join(HERE, 'krylov_data'))
    args = ap.parse_args()

    X, b = problem(args.n, args.d, args.seed, args.outdir)
    n = args.n

    # eigsh end to end: build K, then ARPACK through a counting LinearOperator.
    t0 = time.perf_counter()
    K = gaussian_dense(X, args.sigma)
    t_build = time.perf_counter() - t0
    count = [0]

    def mv(x):
        count[0] += 1
        return K @ x

    op = sla.LinearOperator((n, n), matvec=mv, dtype=np.float64)
    t1 = time.perf_counter()
    vals = sla.eigsh(op, k=args.k, which='LM', return_eigenvectors=False)
    t_eigsh = time.perf_counter() - t1
    eig_matvecs = count[0]

    # cg end to end: build K (again, as a user solving only would), shift, solve.
    del K, op
    t2 = time.perf_counter()
    K = gaussian_dense(X, args.sigma)
    K[np.diag_indices(n)] += args.alpha
    t_build2 = time.perf_counter() - t2
    its = [0]

    def cb(_):
        its[0] += 1

    t3 = time.perf_counter()
    x, info = sla.cg(K, b, rtol=args.rtol, callback=cb)
    t_cg = time.perf_counter() - t3
    rel_res = float(np.linalg.norm(b - K @ x) / np.linalg.norm(b))

    print(json.dumps({
        'problem': {'kernel': 'gaussian', 'n': n, 'd': args.d, 'sigma': args.sigma, 'seed': args.seed,
                    'k': args.k, 'alpha': args.alpha, 'rtol': args.rtol},
        'versions': {'python': platform.python_version(), 'numpy': np.__version__, 'scipy': scipy.__version__},
        'eigsh': {'eigenvalues': sorted(float(v) for v in vals), 'matvecs': eig_matvecs,
                  'build_s': t_build, 'solve_s': t_eigsh, 'total_s': t_build + t_eigsh},
        'cg': {'info': int(info), 'iterations': its[0], 'relative_residual': rel_res,
               'build_s': t_build2, 'solve_s': t_cg, 'total_s': t_build2 + t_cg},
    }, indent=2))


if __name__ == '__main__':
    main()
