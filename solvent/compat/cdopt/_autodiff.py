"""Jacobian products for the CDOpt manifold classes, differentiable again.

Both go through reverse mode (``create_graph=True``): torch's forward mode loads
TorchScript decompositions on first use, which warns in torch >= 2.10. ``jvp``
is the vjp of the vjp (the "double-vjp" trick).

Example:
    >>> import torch
    >>> from solvent.compat.cdopt._autodiff import jvp, vjp
    >>> X, D = torch.ones(2, dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    >>> jvp(lambda Y: Y ** 2, X, D).tolist(), vjp(lambda Y: Y ** 2, X, D).tolist()
    ([2.0, 0.0], [2.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["jvp", "vjp"]


def _leaf(X: Tensor) -> Tensor:
    return X if X.requires_grad else X.detach().requires_grad_(True)


def vjp(fn: Callable[[Tensor], Tensor], X: Tensor, G: Tensor) -> Tensor:
    """``Dfn(X)^* [G]``, differentiable again."""
    with torch.enable_grad():
        X = _leaf(X)
        Y = fn(X)
        if not Y.requires_grad:  # fn does not depend on X (Euclidean space)
            return torch.zeros_like(X)
        (g,) = torch.autograd.grad(Y, X, G.to(Y.dtype), create_graph=True, allow_unused=True)
    return torch.zeros_like(X) if g is None else g


def jvp(fn: Callable[[Tensor], Tensor], X: Tensor, D: Tensor) -> Tensor:
    """``Dfn(X)[D]``, differentiable again."""
    with torch.enable_grad():
        X = _leaf(X)
        Y = fn(X)
        if not Y.requires_grad:
            return torch.zeros_like(Y)
        U = torch.zeros_like(Y, requires_grad=True)
        (g,) = torch.autograd.grad(Y, X, U, create_graph=True, allow_unused=True)
        if g is None:
            return torch.zeros_like(Y)
        (jv,) = torch.autograd.grad(g, U, D.to(X.dtype), create_graph=True, allow_unused=True)
    return torch.zeros_like(Y) if jv is None else jv
