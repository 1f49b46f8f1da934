"""PCA on the Stiefel manifold: the leading p eigenvectors of a covariance matrix.

max tr(X^T H X) over X^T X = I is attained by the span of the p leading
eigenvectors of H (Ky Fan). H is the sample covariance of data with a planted
p-dimensional signal, so the eigengap is clear. The script compares with
scipy.linalg.eigh: the objective gap and the distance between the subspaces
(||X X^T - V V^T||_F), and fails if either exceeds its tolerance.

Run: python examples/pca_stiefel.py --seed 0 --threads 1 [--n 500 --p 5 --method trust-region]
"""

from __future__ import annotations

import argparse
import sys
import time

import scipy.linalg
import torch

import solvent.optim

OBJECTIVE_TOL = 1e-9  # relative; the error is quadratic in the gradient norm
SUBSPACE_TOL = 1e-5  # linear in it: about ||grad|| / eigengap


def covariance(n: int, p: int, m: int, gen: torch.Generator) -> torch.Tensor:
    """Sample covariance of m points: a p-dimensional signal (scales 3..2) plus unit noise."""
    basis, _ = torch.linalg.qr(torch.randn(n, p, dtype=torch.float64, generator=gen))
    scales = torch.linspace(3.0, 2.0, p, dtype=torch.float64)
    Z = torch.randn(m, p, dtype=torch.float64, generator=gen) * scales
    D = Z @ basis.mT + torch.randn(m, n, dtype=torch.float64, generator=gen)
    return D.mT @ D / m


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--p", type=int, default=5)
    parser.add_argument("--method", default="L-BFGS")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    H = covariance(args.n, args.p, 4 * args.n, gen)

    start = time.perf_counter()
    res = solvent.optim.minimize(lambda X: -(X * (H @ X)).sum(), shape=(args.n, args.p),
                                 method=args.method, seed=args.seed)
    elapsed = time.perf_counter() - start
    w, V = scipy.linalg.eigh(H.numpy(), subset_by_index=[args.n - args.p, args.n - 1])
    best = float(w.sum())
    V = torch.from_numpy(V)
    objective_gap = abs(-res.fun - best) / best
    subspace_gap = float(torch.linalg.matrix_norm(res.x @ res.x.mT - V @ V.mT))
    print(res)
    print(f"objective gap {objective_gap:.2e} (tol {OBJECTIVE_TOL:g}), subspace gap "
          f"{subspace_gap:.2e} (tol {SUBSPACE_TOL:g}); {elapsed:.2f} s, {res.nit} iterations")
    ok = res.success and objective_gap <= OBJECTIVE_TOL and subspace_gap <= SUBSPACE_TOL
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
