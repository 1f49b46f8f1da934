"""Helpers shared by the factorised chart manifolds (fixed_rank, psd_fixed_rank, elliptope).

* :func:`check_rank` - the ``rank`` argument, checked once at construction;
* :func:`top_eigh` - the k largest eigenpairs of the Hermitian part of a matrix;
* :func:`psd_factor` - Y (n x k) with Y Y^H the nearest PSD matrix of rank <= k;
* :func:`rank_floor` - the smallest singular value or eigenvalue a projection keeps,
  so that a projected point has rank exactly k.
"""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldParameterError
from solvent.manifolds._linalg import hermitian_part

__all__ = ["check_rank", "psd_factor", "rank_floor", "top_eigh"]


def check_rank(name: str, rank: object) -> int:
    """``rank`` as a positive int, or a ManifoldParameterError naming the manifold.

    Example:
        >>> check_rank("fixed_rank", 3)
        3
    """
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ManifoldParameterError(
            name, "rank", f"rank must be a positive int, got {rank!r}", f"e.g. {name}(rank=2)"
        )
    return rank


def top_eigh(X: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest eigenvalues (ascending, real) and eigenvectors of ``(X + X^H) / 2``.

    Example:
        >>> w, Q = top_eigh(torch.diag(torch.tensor([3.0, 1.0, 2.0])), 2)
        >>> w
        tensor([2., 3.])
    """
    w, Q = torch.linalg.eigh(hermitian_part(X))
    return w[..., -k:], Q[..., :, -k:]


def rank_floor(scale: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    """``100 n eps * scale`` (``scale`` 0 counts as 1): what a projection keeps of a zero mode.

    Example:
        >>> float(rank_floor(torch.tensor(0.0), 1, torch.float64)) > 0
        True
    """
    eps = torch.finfo(dtype).eps
    return 100.0 * n * eps * torch.where(scale > 0, scale, torch.ones_like(scale))


def psd_factor(X: Tensor, k: int, floor: bool) -> Tensor:
    """Y (n x k) with ``Y Y^H`` the nearest PSD matrix of rank <= k to X (Frobenius norm).

    The top k eigenpairs of the Hermitian part, eigenvalues clamped at 0 (at
    :func:`rank_floor` with ``floor=True``, so that the rank is exactly k).

    Example:
        >>> X = torch.diag(torch.tensor([4.0, -1.0, 1.0], dtype=torch.float64))
        >>> Y = psd_factor(X, 2, floor=False)
        >>> torch.allclose(Y @ Y.mT, torch.diag(torch.tensor([4.0, 0.0, 1.0], dtype=torch.float64)))
        True
    """
    w, Q = top_eigh(X, k)
    low: float | Tensor = 0.0
    if floor:
        low = rank_floor(w.abs().amax(-1, keepdim=True), X.shape[-1], w.dtype)
    w = torch.maximum(w, torch.as_tensor(low, dtype=w.dtype, device=w.device))
    return (Q * w.sqrt().to(Q.dtype).unsqueeze(-2)).contiguous()
