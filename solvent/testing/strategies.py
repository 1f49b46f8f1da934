"""Hypothesis strategies and well-conditioned matrices for manifold tests."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from solvent._points import map_parts
from solvent.manifolds.base import Manifold
from solvent.testing._helpers import _norm, _randn_like

__all__ = ["perturbations", "points", "shapes", "well_conditioned"]


def well_conditioned(
    n: int, p: int, cond: float = 10.0, *, seed: int = 0, dtype=torch.float64
) -> Tensor:
    """An n x p matrix with singular values spread in [1, cond]: QR (sign fixed) then chosen S."""
    from solvent.manifolds.stiefel import qr_unique

    gen = torch.Generator().manual_seed(seed)
    k = min(n, p)
    U = qr_unique(torch.randn(n, k, dtype=dtype, generator=gen))
    V = qr_unique(torch.randn(p, k, dtype=dtype, generator=gen))
    S = torch.logspace(0, math.log10(cond), k, dtype=U.real.dtype if U.is_complex() else dtype)
    return (U * S.to(U.dtype)) @ V.mH


def shapes(M: Manifold, max_batch: int = 2):
    """Hypothesis strategy: a point shape of M with up to ``max_batch`` batch dimensions."""
    from hypothesis import strategies as st

    base = st.sampled_from(M.example_shapes())
    if not isinstance(M.example_shapes()[0][0] if M.example_shapes()[0] else 0, int):
        return base
    batch = st.lists(st.integers(1, 3), max_size=max_batch).map(tuple)
    return st.tuples(batch, base).map(lambda bs: bs[0] + tuple(bs[1]))


def points(M: Manifold, dtype=torch.float64, max_batch: int = 2):
    """Hypothesis strategy: a random feasible point of M (shape and seed drawn)."""
    from hypothesis import strategies as st

    def build(args):
        shape, seed = args
        gen = torch.Generator().manual_seed(seed)
        return M.random(*shape, dtype=dtype, generator=gen)

    return st.tuples(shapes(M, max_batch), st.integers(0, 2**31 - 1)).map(build)


def perturbations(X, scale: float = 1.0):
    """Hypothesis strategy: a random direction like X, of norm ``scale`` (seed drawn)."""
    from hypothesis import strategies as st

    def build(seed):
        E = _randn_like(X, torch.Generator().manual_seed(seed))
        n = _norm(E)
        return map_parts(lambda e: e * (scale / max(n, 1e-300)), E)

    return st.integers(0, 2**31 - 1).map(build)
