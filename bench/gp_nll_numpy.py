"""numpy's side of bench/gp-nll.mjs: the data (seeded), np.linalg.slogdet of the dense float64 K + αI, and the dense
Cholesky route of the GP negative log marginal likelihood with its analytic gradient in the noise variance α and the
Gaussian bandwidth σ:
    NLL = ½ yᵀA⁻¹y + ½ log det A + (n/2) log 2π,  ∂/∂θ = ½ tr(A⁻¹ ∂A/∂θ) − ½ uᵀ(∂A/∂θ)u,  u = A⁻¹y,
with ∂A/∂α = I and ∂A/∂σ = K ∘ r²/σ³. Timed from the points (K formed, factored by LAPACK potrf, A⁻¹ formed from
the factor by potri — n³ flops in all, the least a dense route with exact traces needs — traces taken in row blocks).

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


def dk_trace_and_quad(X, Ainv, u, sigma, chunk=2048):
    """tr(A⁻¹ ∂K/∂σ) and uᵀ(∂K/∂σ)u with ∂K/∂σ = K ∘ r²/σ³, row blocks at a time (no third n×n array)."""
    n = len(u)
    s = np.einsum('ij,ij->i', X, X)
    tr = 0.0
    quad = 0.0
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        D = s[a:b, None] + s[None, :] - 2.0 * (X[a:b] @ X.T)
        np.maximum(D, 0, out=D)
        dK = np.exp(-D / (2 * sigma * sigma)) * D / sigma ** 3
        tr += np.sum(Ainv[a:b] * dK)
        quad += u[a:b] @ (dK @ u)
    return tr, quad


def symmetrize_from_lower(M, chunk=2048):
    """Copies the lower triangle onto the upper in place, a block of rows at a time (no n×n temporaries)."""
    n = M.shape[0]
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        block = M[a:b, a:b]
        M[a:b, a:b] = np.tril(block) + np.tril(block, -1).T
        if b < n:
            M[a:b, b:] = M[b:, a:b].T


def nll_and_grad(X, y, sigma, alpha):
    """The dense route: A = LLᵀ (potrf), A⁻¹ from the factor (potri: n³ in all), then the traces in O(n²)."""
    n = len(y)
    A = np.exp(-sqdist(X) / (2 * sigma * sigma))
    A[np.diag_indices(n)] += alpha
    L, info = sla.lapack.dpotrf(A, lower=1, overwrite_a=1, clean=1)
    if info != 0:
        raise RuntimeError(f'dpotrf failed: {info}')
    del A
    logdet = 2.0 * np.sum(np.log(np.diag(L)))
    u = sla.cho_solve((L, True), y, check_finite=False)
    Ainv, info = sla.lapack.dpotri(L, lower=1, overwrite_c=1)
    if info != 0:
        raise RuntimeError(f'dpotri failed: {info}')
    del L
    symmetrize_from_lower(Ainv)  # potri fills one triangle
    value = 0.5 * (y @ u + logdet + n * np.log(2 * np.pi))
    g_alpha = 0.5 * (np.trace(Ainv) - u @ u)
    tr, quad = dk_trace_and_quad(X, Ainv, u, sigma)
    g_sigma = 0.5 * (tr - quad)
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
