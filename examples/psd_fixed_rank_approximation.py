"""Low-rank PSD approximation on ``psd_fixed_rank``: recover A = L L^T from a random start.

For a PSD matrix A of rank k, ``min ||X - A||_F^2`` over n x n PSD matrices of
rank k has A itself as its solution (in general: A's top-k eigen truncation).
The free variable is the factor Y (n x k), X = Y Y^T: n k numbers instead of
n^2. This is pymanopt's ``low_rank_psd_matrix_approximation`` example on
``PSDFixedRank`` (n = 1000, k = 5 there; n = 200 by default here);
``benchmarks/bench_pymanopt_factor_examples.py`` runs both from one start.

Run: python examples/psd_fixed_rank_approximation.py --seed 0 [--n 200 --k 5]
"""

from __future__ import annotations

import argparse
import sys

import torch

import solvent
from solvent.optim import OptimizeResult, minimize

GTOL = 1e-10  # minimize's Riemannian gradient norm at the returned point
MAXITER = 5000
TOLERANCE = 1e-8  # relative distance to A


def problem(n: int, k: int, seed: int) -> torch.Tensor:
    """A = L L^T with a Gaussian n x k factor L."""
    L = torch.randn(n, k, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return L @ L.mT


def solve(A: torch.Tensor, k: int, x0: torch.Tensor) -> OptimizeResult:
    """min ||X - A||^2 over n x n PSD matrices of rank k, from x0."""
    M = solvent.manifold("psd_fixed_rank", rank=k)
    return minimize(lambda X: (X - A).square().sum(), x0, M, gtol=GTOL, maxiter=MAXITER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args(argv)
    A = problem(args.n, args.k, args.seed)
    M = solvent.manifold("psd_fixed_rank", rank=args.k)
    x0 = M.random(args.n, args.n, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(args.seed + 1))
    res = solve(A, args.k, x0)
    err = float(torch.linalg.matrix_norm(res.x - A) / torch.linalg.matrix_norm(A))
    print(f"f = {res.fun:.3g}, rank {int(torch.linalg.matrix_rank(res.x))}, "
          f"||X - A|| / ||A|| = {err:.2e} ({res.nfev} evaluations)")
    return 0 if res.success and err <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
