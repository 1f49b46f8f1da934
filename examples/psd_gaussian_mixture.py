"""A Gaussian mixture fitted over SPD matrices: ``psd_fixed_rank`` at full rank, batched.

The mixture of K Gaussians in R^d is fitted by maximum likelihood in the
reformulation of Hosseini and Sra (2015): each component is one SPD matrix
S_j of size D = d + 1 acting on the lifted sample y = [x; 1], and the weights
are a softmax of free numbers (v_1, ..., v_{K-1}, 0):

    min_{S, v}  -sum_i log sum_j alpha_j exp(-1/2 (y_i^T S_j^{-1} y_i + log det S_j)).

At a maximiser, S_j = [[Sigma_j + mu_j mu_j^T, mu_j], [mu_j^T, 1]], so the means
and covariances are read off S_j (its corner entry is 1 there, a check of
stationarity). SPD matrices of size D are the PSD matrices of rank D, so the K
components are one batched point of ``psd_fixed_rank(rank=D)``: the free
variable is a (K, D, D) stack of factors Y_j, S_j = Y_j Y_j^T; the weights are
K positive numbers w_j (``positive``, v_j = log w_j - log w_K), and
``solvent.optim.minimize`` solves over the product of the two. This is pymanopt's
mixture-of-Gaussians example (its ``SymmetricPositiveDefinite(D, k=K)`` times
``Euclidean(K - 1)``); ``benchmarks/bench_pymanopt_factor_examples.py`` runs it
from the same start. The script prints the fitted means against the true ones,
the corner entries, and the gradient norm, and fails if minimize reports no
success or the gradient norm or a corner entry's distance to 1 exceeds its tolerance.

Run: python examples/psd_gaussian_mixture.py --seed 0 [--n 1000]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

import solvent
from solvent.manifolds import Positive
from solvent.optim import minimize

GTOL = 1e-10  # minimize's gradient norm over the free variable at the returned point
TOLERANCE = 1e-6  # gradient norm, and |S_j[d, d] - 1|
MEANS = torch.tensor([[-4.0, 1.0], [0.0, 0.0], [4.0, -1.0]], dtype=torch.float64)


@dataclass
class Fit:
    S: Tensor  # (K, D, D) SPD
    v: Tensor  # (K - 1,)
    fun: float
    grad_norm: float
    success: bool  # minimize's verdict (Note [stopping test])


def problem(n: int, seed: int) -> Tensor:
    """n samples of a 3-component mixture in R^2 (weights 0.5, 0.3, 0.2)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), n, True,
                               generator=g)
    A = torch.randn(3, 2, 2, dtype=torch.float64, generator=g) * 0.6
    noise = torch.randn(n, 2, 1, dtype=torch.float64, generator=g)
    return MEANS[labels] + (A[labels] @ noise).squeeze(-1)


def cost(X: Tensor):
    """The negative log-likelihood of (S, v), averaged over the samples."""
    y = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1).mT  # (D, n)

    def f(S: Tensor, v: Tensor) -> Tensor:
        quad = (y * torch.linalg.solve(S, y.expand(S.shape[0], *y.shape))).sum(-2)  # (K, n)
        log_q = -0.5 * (quad + torch.linalg.slogdet(S)[1].unsqueeze(-1))
        log_alpha = torch.log_softmax(torch.cat([v, v.new_zeros(1)]), dim=0).unsqueeze(-1)
        return -torch.logsumexp(log_alpha + log_q, dim=0).mean()

    return f


def solve(X: Tensor, S0: Tensor, v0: Tensor, *, max_iter: int = 2000) -> Fit:
    """minimize's trust region over the point (S, w), from (S0, v0).

    The point lies on the product of ``psd_fixed_rank(rank=D)`` (free variable: the
    factors Y, S = Y Y^T) and ``positive`` (K positive weights w, one per component:
    the logits are v_j = log w_j - log w_K), two chart manifolds, so minimize works on
    the free variable with no penalty. f does not change when w is scaled, a flat
    direction that the trust region's exact Hessian takes in its stride (L-BFGS
    crawls along it: thousands of iterations from the default start).
    """
    K, D = S0.shape[0], S0.shape[-1]
    M = solvent.manifold("product", manifolds=(solvent.manifold("psd_fixed_rank", rank=D),
                                                Positive(ndim=1)))
    f = cost(X)

    def logits(w: Tensor) -> Tensor:
        lw = torch.log(w[..., 0])
        return lw[:-1] - lw[-1]

    w0 = torch.exp(torch.cat([v0, v0.new_zeros(1)])).reshape(K, 1)
    res = minimize(lambda p: f(p[0], logits(p[1])), (S0, w0), M, method="trust-region",
                   gtol=GTOL, maxiter=max_iter)
    S = res.x[0].detach().requires_grad_()
    w = logits(res.x[1]).detach().requires_grad_()
    value = f(S, w)
    gS, gv = torch.autograd.grad(value, (S, w))
    # Riemannian gradient norm on SPD x R^(K-1), affine-invariant metric: ||S^(1/2) G S^(1/2)||
    L = torch.linalg.cholesky(S.detach())
    rg = L.mT @ (0.5 * (gS + gS.mT)) @ L
    grad = float(torch.sqrt(rg.square().sum() + gv.square().sum()))
    return Fit(S.detach(), w.detach(), float(value.detach()), grad, res.success)


def start(K: int, D: int, seed: int) -> tuple[Tensor, Tensor]:
    """A random SPD stack (Wishart-like, well conditioned) and zero weights' logits."""
    G = torch.randn(K, D, D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return G @ G.mT / D + torch.eye(D, dtype=torch.float64), torch.zeros(K - 1, dtype=torch.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args(argv)
    X = problem(args.n, args.seed)
    S0, v0 = start(3, 3, args.seed + 1)
    fit = solve(X, S0, v0)
    means = fit.S[:, :2, 2]
    corners = fit.S[:, 2, 2]
    order = torch.argsort(means[:, 0])
    print(f"f = {fit.fun:.10f}; Riemannian gradient norm {fit.grad_norm:.2e}")
    print(f"fitted means {means[order].numpy().round(3).tolist()} "
          f"(true {MEANS.numpy().tolist()})")
    print(f"corner entries S_j[d, d] {corners.numpy().round(12).tolist()} (1 at a maximiser)")
    corner_gap = float((corners - 1).abs().max())
    ok = fit.success and fit.grad_norm <= TOLERANCE and corner_gap <= TOLERANCE
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
