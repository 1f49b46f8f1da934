"""Nearest correlation matrix of rank k on ``elliptope``.

Given a symmetric matrix A (n x n), find the correlation matrix (PSD, unit
diagonal) of rank at most k nearest to it:

    min 1/4 ||X - A||_F^2  over the elliptope of rank k.

The free variable is Y (n x k) and X = N(Y) N(Y)^T with the rows of Y
normalised. This is pymanopt's ``rank_k_correlation_matrix_approximation``
example (n = 10, k = 3 there, and the defaults here), which pymanopt states on
``Oblique``; ``benchmarks/bench_pymanopt_factor_examples.py`` runs it on
pymanopt's ``Elliptope`` from the same start and compares the optima. The
script prints the value, the diagonal and the rank, and checks first-order
optimality: the Euclidean gradient G of f at X satisfies (G - Diag(nu)) Y = 0
with nu_i = (G X)_ii, the multipliers of the unit diagonal.

Run: python examples/elliptope_correlation.py --seed 0 [--n 10 --k 3]
"""

from __future__ import annotations

import argparse
import sys

import torch

import solvent
from solvent.optim import OptimizeResult, minimize

GTOL = 1e-10  # minimize's Riemannian gradient norm at the returned point
MAXITER = 5000
TOLERANCE = 1e-8  # first-order residual, relative to ||A||


def problem(n: int, seed: int) -> torch.Tensor:
    """A symmetric Gaussian matrix."""
    A = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return 0.5 * (A + A.mT)


def cost(A: torch.Tensor):
    return lambda X: 0.25 * (X - A).square().sum()


def solve(A: torch.Tensor, k: int, x0: torch.Tensor) -> OptimizeResult:
    """min 1/4 ||X - A||^2 over the rank-k elliptope, from x0."""
    return minimize(cost(A), x0, solvent.manifold("elliptope", rank=k), gtol=GTOL, maxiter=MAXITER)


def stationarity(A: torch.Tensor, X: torch.Tensor, k: int) -> float:
    """||(G - Diag(nu)) Y|| / ||A||, G = (X - A)/2 the Euclidean gradient, Y the factor of X."""
    Y = solvent.manifold("elliptope", rank=k).lift(X)
    G = 0.5 * (X - A)
    nu = (G @ X).diagonal()
    return float(torch.linalg.matrix_norm((G - torch.diag(nu)) @ Y) / torch.linalg.matrix_norm(A))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args(argv)
    A = problem(args.n, args.seed)
    M = solvent.manifold("elliptope", rank=args.k)
    x0 = M.random(args.n, args.n, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(args.seed + 1))
    res = solve(A, args.k, x0)
    residual = stationarity(A, res.x, args.k)
    diag = res.x.diagonal()
    print(f"f = {res.fun:.12g}; diagonal in [{float(diag.min()):.15f}, {float(diag.max()):.15f}]; "
          f"rank {int(torch.linalg.matrix_rank(res.x))}; first-order residual {residual:.2e} "
          f"({res.nfev} evaluations)")
    return 0 if res.success and residual <= TOLERANCE and M.check_point(res.x) else 1


if __name__ == "__main__":
    sys.exit(main())
