"""Low-rank matrix completion on ``fixed_rank``: recover a rank-k matrix from half its entries.

A is m x n of rank k; only the entries in a random mask Omega (each kept with
probability p) are observed. With enough observations the rank-k matrix that
fits them is A itself:

    min ||P_Omega(X - A)||_F^2  over m x n matrices X of rank k.

This solves it over the fixed-rank manifold from a random start and prints the
relative distance to A (the entries never observed included). The problem is
the classical application of pymanopt's ``FixedRankEmbedded`` (Vandereycken's
Riemannian completion); ``benchmarks/bench_pymanopt_factor_examples.py`` runs
pymanopt from the same start.

Run: python examples/fixed_rank_completion.py --seed 0 [--m 60 --n 50 --k 3 --p 0.5]
"""

from __future__ import annotations

import argparse
import sys

import torch

import solvent
from solvent.optim import OptimizeResult, minimize

GTOL = 1e-10  # minimize's Riemannian gradient norm at the returned point
MAXITER = 5000
TOLERANCE = 1e-8  # relative distance to the hidden matrix A


def problem(m: int, n: int, k: int, p: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A rank-k m x n matrix (entries of order 1) and a Bernoulli(p) mask of observed entries."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, k, dtype=torch.float64, generator=g) @ torch.randn(
        k, n, dtype=torch.float64, generator=g) / k**0.5
    mask = (torch.rand(m, n, dtype=torch.float64, generator=g) < p).to(torch.float64)
    return A, mask


def solve(A: torch.Tensor, mask: torch.Tensor, k: int, x0: torch.Tensor) -> OptimizeResult:
    """min ||mask * (X - A)||^2 over rank-k matrices, from x0."""
    M = solvent.manifold("fixed_rank", rank=k)
    return minimize(lambda X: (mask * (X - A)).square().sum(), x0, M, gtol=GTOL, maxiter=MAXITER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--m", type=int, default=60)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--p", type=float, default=0.5, help="fraction of entries observed")
    args = parser.parse_args(argv)
    A, mask = problem(args.m, args.n, args.k, args.p, args.seed)
    M = solvent.manifold("fixed_rank", rank=args.k)
    x0 = M.random(args.m, args.n, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(args.seed + 1))
    res = solve(A, mask, args.k, x0)
    err = float(torch.linalg.matrix_norm(res.x - A) / torch.linalg.matrix_norm(A))
    print(f"observed {int(mask.sum())} of {mask.numel()} entries; f = {res.fun:.3g}; "
          f"||X - A|| / ||A|| = {err:.2e} ({res.nfev} evaluations)")
    return 0 if res.success and err <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
