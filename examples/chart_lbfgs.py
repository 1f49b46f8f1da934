"""L-BFGS over the free variable of a chart manifold: min_Z h(Z) = f(A(Z)), Z = lift(project(x0)).

The factor examples (fixed_rank_*, psd_*, elliptope_*) solve with this helper:
torch's own L-BFGS with a strong Wolfe line search on the real coordinates of
the free variable Z (the factors), reading the point through the manifold's map
(validated once, by ``lift``, then the map's hook: the solver's hot path). A
chart manifold has no penalty, so h is f composed with the map, nothing more.
It stops when the largest gradient entry is below ``gtol``, or when the line
search can no longer decrease h (float64 rounding), or after ``max_iter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ChartResult", "minimize_on_chart"]


@dataclass
class ChartResult:
    """The point reached, its objective, and how many evaluations it took."""

    x: Tensor
    fun: float
    nfev: int


def minimize_on_chart(
    f: Callable[[Tensor], Tensor], x0: Tensor, M, *, gtol: float = 1e-13, max_iter: int = 5000
) -> ChartResult:
    """Minimise f over the chart manifold M from the point nearest x0.

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("psd_fixed_rank", rank=1)
        >>> A = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
        >>> x0 = M.random(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> res = minimize_on_chart(lambda X: (X - A).square().sum(), x0, M)
        >>> round(res.fun, 10)
        1.0
    """
    Z = M.lift(M.project(x0)).detach()
    R = (torch.view_as_real(Z) if Z.is_complex() else Z).contiguous().clone().requires_grad_()
    as_z = torch.view_as_complex if Z.is_complex() else (lambda t: t)
    opt = torch.optim.LBFGS([R], lr=1.0, max_iter=max_iter, tolerance_grad=gtol,
                            tolerance_change=0.0, history_size=50, line_search_fn="strong_wolfe")
    count = [0]

    def closure() -> Tensor:
        opt.zero_grad()
        value = f(M._dissolve(as_z(R)))
        value.backward()
        count[0] += 1
        return value

    opt.step(closure)
    with torch.no_grad():
        X = M._dissolve(as_z(R))
        return ChartResult(X, float(f(X)), count[0])
