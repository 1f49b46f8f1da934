"""Low-rank approximation on ``fixed_rank``: the Eckart-Young truncation, found by optimisation.

For a matrix A (m x n), the best approximation of rank k in the Frobenius norm,

    min ||X - A||_F^2  over m x n matrices X of rank k,

is the truncated SVD of A (Eckart-Young). This solves it over the fixed-rank
manifold from a random start (the free variable holds the balanced factors
U, V with X = U V^T) and prints the distance to the truncated SVD. The same
problem is pymanopt's ``low_rank_matrix_approximation`` example on
``FixedRankEmbedded`` (m = 5, n = 4, k = 2 there, and the defaults here);
``benchmarks/bench_pymanopt_factor_examples.py`` runs both from one start.

Run: python examples/fixed_rank_approximation.py --seed 0 [--m 5 --n 4 --k 2]
"""

from __future__ import annotations

import argparse
import sys

import torch

import solvent
from solvent.optim import OptimizeResult, minimize

GTOL = 1e-10  # minimize's Riemannian gradient norm at the returned point
MAXITER = 5000
TOLERANCE = 1e-8  # relative distance to the truncated SVD


def problem(m: int, n: int, seed: int) -> torch.Tensor:
    """A Gaussian m x n matrix (float64)."""
    return torch.randn(m, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def solve(A: torch.Tensor, k: int, x0: torch.Tensor) -> OptimizeResult:
    """min ||X - A||^2 over rank-k matrices, from x0."""
    M = solvent.manifold("fixed_rank", rank=k)
    return minimize(lambda X: (X - A).square().sum(), x0, M, gtol=GTOL, maxiter=MAXITER)


def truncated_svd(A: torch.Tensor, k: int) -> torch.Tensor:
    U, s, Vh = torch.linalg.svd(A, full_matrices=False)
    return (U[:, :k] * s[:k]) @ Vh[:k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--k", type=int, default=2)
    args = parser.parse_args(argv)
    A = problem(args.m, args.n, args.seed)
    M = solvent.manifold("fixed_rank", rank=args.k)
    x0 = M.random(args.m, args.n, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(args.seed + 1))
    res = solve(A, args.k, x0)
    best = truncated_svd(A, args.k)
    err = float(torch.linalg.matrix_norm(res.x - best) / torch.linalg.matrix_norm(best))
    print(f"f = {res.fun:.12g}, rank {int(torch.linalg.matrix_rank(res.x))}, "
          f"||X - truncated SVD|| / ||truncated SVD|| = {err:.2e} ({res.nfev} evaluations)")
    return 0 if res.success and err <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
