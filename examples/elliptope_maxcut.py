"""The max-cut SDP relaxation on ``elliptope`` (Burer-Monteiro), certified by duality.

For a graph with Laplacian L (n x n), Goemans and Williamson's relaxation of
max-cut is the SDP

    max 1/4 <L, X>  over X PSD with diag X = 1,

whose optimum bounds the largest cut. Restricted to rank <= k with
k (k + 1) / 2 > n, the factorised problem over the elliptope has the SDP's
optimum as its optimum (Barvinok-Pataki; Boumal, Voroninski and Bandeira), and
a point reached by a local solver can be certified: with C = L/4 and
nu_i = (C X)_ii, S = Diag(nu) - C is the dual slack, and the SDP optimum lies in
[<C, X>, <C, X> + n max(0, -lambda_min(S))]. The script prints the value, that
gap, and the best cut of 100 random-hyperplane roundings of X. Max-cut on the
elliptope is the textbook use of Manopt's and pymanopt's ``Elliptope``;
``benchmarks/bench_pymanopt_factor_examples.py`` runs pymanopt from the same start.

Run: python examples/elliptope_maxcut.py --seed 0 [--n 40 --k 9 --density 0.5]
"""

from __future__ import annotations

import argparse
import sys

import torch

import solvent
from solvent.optim import OptimizeResult, minimize

GTOL = 1e-10  # minimize's Riemannian gradient norm at the returned point
MAXITER = 5000
TOLERANCE = 1e-8  # duality gap bound, relative to the value


def problem(n: int, density: float, seed: int) -> torch.Tensor:
    """The Laplacian of an Erdos-Renyi graph G(n, density)."""
    G = torch.rand(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    W = torch.triu((G < density).to(torch.float64), 1)
    W = W + W.mT
    return torch.diag(W.sum(1)) - W


def solve(L: torch.Tensor, k: int, x0: torch.Tensor) -> OptimizeResult:
    """max 1/4 <L, X> over the rank-k elliptope (as min -1/4 <L, X>), from x0."""
    C = 0.25 * L
    M = solvent.manifold("elliptope", rank=k)
    return minimize(lambda X: -(C * X).sum(), x0, M, gtol=GTOL, maxiter=MAXITER)


def certificate(L: torch.Tensor, X: torch.Tensor) -> tuple[float, float]:
    """The primal value <C, X> and the duality gap bound n max(0, -lambda_min(Diag(nu) - C))."""
    C = 0.25 * L
    nu = (C @ X).diagonal()
    low = float(torch.linalg.eigvalsh(torch.diag(nu) - C).min())
    return float((C * X).sum()), L.shape[0] * max(0.0, -low)


def best_rounding(L: torch.Tensor, X: torch.Tensor, k: int, trials: int, seed: int) -> float:
    """The best cut 1/4 x^T L x over random hyperplanes x = sign(Y r) (Goemans-Williamson)."""
    Y = solvent.manifold("elliptope", rank=k).lift(X)
    r = torch.randn(k, trials, dtype=X.dtype, generator=torch.Generator().manual_seed(seed))
    x = torch.sign(Y @ r)
    return float((0.25 * (x * (L @ x)).sum(0)).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--k", type=int, default=9, help="rank; k (k + 1) / 2 > n certifies")
    parser.add_argument("--density", type=float, default=0.5)
    args = parser.parse_args(argv)
    L = problem(args.n, args.density, args.seed)
    M = solvent.manifold("elliptope", rank=args.k)
    x0 = M.random(args.n, args.n, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(args.seed + 1))
    res = solve(L, args.k, x0)
    value, gap = certificate(L, res.x)
    cut = best_rounding(L, res.x, args.k, 100, args.seed)
    print(f"SDP value {value:.10f} (duality gap <= {gap:.2e}); best rounded cut {cut:.0f} "
          f"= {cut / value:.3f} of the bound ({res.nfev} evaluations)")
    return 0 if res.success and gap <= TOLERANCE * value else 1


if __name__ == "__main__":
    sys.exit(main())
