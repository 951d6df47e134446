"""numpy's side of bench/gp-nll.mjs: the data (seeded), np.linalg.slogdet of the dense float64 K + αI, and the dense
Cholesky route of the GP negative log marginal likelihood with its analytic gradient in the noise variance α and the
Gaussian bandwidth σ:
    NLL = ½ yᵀA⁻¹y + ½ log det A + (n/2) log 2π,  ∂/∂θ = ½ tr(A⁻¹ ∂A/∂θ) − ½ uᵀ(∂A/∂θ)u,  u = A⁻¹y,
with ∂A/∂α = I and ∂A/∂σ = K ∘ r²/σ³. Timed from the points (K formed, factored, A⁻¹ formed, traces taken).

    python3 bench/gp_nll_numpy.py N SIGMA ALPHA OUTDIR [--no-slogdet]
writes OUTDIR/x.bin (n×3 float64), OUTDIR/y.bin, OUTDIR/ref.json (the line it prints).
"""
import json
import sys
import time

import numpy as np
import scipy.linalg as sla


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    y = np.sin(3 * X[:, 0]) + np.cos(2 * X[:, 1]) * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


def sqdist(X):
    s = np.einsum('ij,ij->i', X, X)
    D = s[:, None] + s[None, :] - 2.0 * (X @ X.T)
    np.maximum(D, 0, out=D)
    return D


def nll_and_grad(X, y, sigma, alpha):
    n = len(y)
    D = sqdist(X)
    K = np.exp(-D / (2 * sigma * sigma))
    A = K + alpha * np.eye(n)
    c = sla.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
    L = c[0]
    logdet = 2.0 * np.sum(np.log(np.diag(L)))
    u = sla.cho_solve(c, y, check_finite=False)
    Ainv = sla.cho_solve(c, np.eye(n), overwrite_b=True, check_finite=False)
    del c, L, A
    value = 0.5 * (y @ u + logdet + n * np.log(2 * np.pi))
    g_alpha = 0.5 * (np.trace(Ainv) - u @ u)
    dK = K * D / sigma ** 3  # ∂K/∂σ
    g_sigma = 0.5 * (np.sum(Ainv * dK) - u @ (dK @ u))
    return value, logdet, g_alpha, g_sigma


def main():
    n, sigma, alpha, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    X, y = data(n)
    X.astype(np.float64).tofile(f'{out}/x.bin')
    y.astype(np.float64).tofile(f'{out}/y.bin')
    result = {'n': n}
    if '--no-slogdet' not in sys.argv:
        t = time.perf_counter()
        A = np.exp(-sqdist(X) / (2 * sigma * sigma))
        A[np.diag_indices(n)] += alpha
        sign, ld = np.linalg.slogdet(A)
        result['slogdet'] = ld
        result['slogdetSign'] = sign
        result['slogdetSeconds'] = time.perf_counter() - t
        del A
    t = time.perf_counter()
    value, logdet, g_alpha, g_sigma = nll_and_grad(X, y, sigma, alpha)
    result.update(seconds=time.perf_counter() - t, value=value, logdet=logdet, grad={'noise': g_alpha, 'sigma': g_sigma})
    with open(f'{out}/ref.json', 'w') as f:
        json.dump(result, f)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
