"""The lowest curvature of h at a point, by a few Lanczos steps on Hessian-vector products.

# Note [saddle check]
# ~~~~~~~~~~~~~~~~~~~
# A first-order method stops wherever the gradient vanishes, saddle points
# included: L-BFGS and SciPy's L-BFGS-B started at a saddle of the Rayleigh
# quotient returned success there. So when a solve meets the gradient test,
# minimize() runs ``curvature_check`` Lanczos steps (exact Hessian-vector
# products of h, full reorthogonalisation, a seeded random start) at the
# projected point. Near M the curvature of h along the manifold is that of f
# on M (the Riemannian Hessian, Xiao, Liu and Toh), and across M it is
# positive for the estimated beta; so a Ritz value below
# -100 sqrt(eps) max(1, |largest Ritz value|) is negative curvature of h
# along the manifold, or across it with a beta too small: the point is not a
# local minimiser of h. A Ritz value is never below the lowest eigenvalue, so
# what the check finds is real; what it does not find (curvature it has not
# resolved in k steps) is not ruled out. minimize() then moves along the Ritz
# vector until h decreases, and solves on (at most ``MAX_ESCAPES`` times);
# a point it cannot leave is reported as success=False. With
# ``curvature_check=0`` success means first order only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["MAX_ESCAPES", "curvature_tolerance", "lowest_curvature"]

MAX_ESCAPES = 3


def lowest_curvature(hvp: Callable[[Tensor], Tensor], like: Tensor, steps: int,
                     seed: int = 0) -> tuple[float, float, Tensor]:
    """Lanczos with full reorthogonalisation: (lowest Ritz value, highest, unit Ritz vector).

    Example:
        >>> import torch
        >>> H = torch.diag(torch.tensor([2.0, -1.0, 3.0], dtype=torch.float64))
        >>> low, high, v = lowest_curvature(lambda v: H @ v, torch.zeros(3, dtype=torch.float64), 3)
        >>> round(low, 12), round(high, 12), round(abs(float(v[1])), 12)
        (-1.0, 3.0, 1.0)
    """
    n = like.numel()
    k = max(1, min(steps, n))
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, dtype=like.dtype, generator=gen).to(like.device)
    Q = [q / torch.linalg.vector_norm(q)]
    alphas, betas = [], []
    for j in range(k):
        w = hvp(Q[j])
        alphas.append(torch.dot(w, Q[j]))
        basis = torch.stack(Q)
        w = w - basis.mT @ (basis @ w)
        w = w - basis.mT @ (basis @ w)  # twice is enough (Kahan)
        b = torch.linalg.vector_norm(w)
        if j == k - 1 or float(b) <= 1e-12 * max(1.0, float(alphas[-1].abs())):
            break
        betas.append(b)
        Q.append(w / b)
    T = torch.diag(torch.stack(alphas))
    if betas:
        off = torch.stack(betas)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    theta, S = torch.linalg.eigh(T)
    v = torch.stack(Q).mT @ S[:, 0]
    return float(theta[0]), float(theta[-1]), v / torch.linalg.vector_norm(v)


def curvature_tolerance(highest: float, dtype: torch.dtype) -> float:
    """How negative a Ritz value must be to count (Note [saddle check])."""
    return 100.0 * math.sqrt(torch.finfo(dtype).eps) * max(1.0, abs(highest))
