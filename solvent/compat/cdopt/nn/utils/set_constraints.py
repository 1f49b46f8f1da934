"""CDOpt's ``set_constraint_dissolving``: constrain a parameter of any layer.

The parameter becomes a parametrization (torch's ``register_parametrization``):
the stored tensor, ``module.parametrizations[name].original``, is the manifold
variable (CDOpt's view: the transpose of a wide matrix, the (out * prod(k), in)
matrix of a conv weight), and the module computes with
``var_to_weight(A(original))``. The parametrization carries ``penalty_param``,
``quad_penalty()`` and ``feasibility()``, so ``get_quad_penalty`` and
``get_constraint_violation`` count it.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> from solvent.compat.cdopt.nn import get_quad_penalty
    >>> from solvent.compat.cdopt.nn.utils.set_constraints import set_constraint_dissolving
    >>> fc = nn.Linear(256, 120)
    >>> set_constraint_dissolving(fc, "weight", manifold_class=stiefel_torch, penalty_param=0.02)
    >>> fc.parametrizations.weight.original.shape        # the tall variable W^T
    torch.Size([256, 120])
    >>> float(get_quad_penalty(fc).detach()) < 1e-8
    True
"""

from __future__ import annotations

import types

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from solvent.compat.cdopt.manifold_torch import euclidean_torch
from solvent.compat.cdopt.nn.modules.utils import (
    wvt_flatten2d,
    wvt_flatten2d_transp,
    wvt_identical,
    wvt_transp,
)

__all__ = ["set_constraint_dissolving"]


class _Dissolve(nn.Module):
    """The parametrization: ``original`` (the variable) -> the weight the module uses."""

    def __init__(self, manifold, weight_to_var, var_to_weight, forward_with_A: bool) -> None:
        super().__init__()
        self.manifold, self.forward_with_A = manifold, forward_with_A
        self.weight_to_var, self.var_to_weight = weight_to_var, var_to_weight

    def forward(self, X: Tensor) -> Tensor:
        return self.var_to_weight(self.manifold.A(X) if self.forward_with_A else X)

    def right_inverse(self, W: Tensor) -> Tensor:
        return self.weight_to_var(W)


def _default_transfer(module: nn.Module, weight: Tensor):
    """CDOpt's choice: vectors as they are, wide matrices transposed, conv weights flattened."""
    if weight.dim() == 1:
        return wvt_identical
    if weight.dim() == 2:
        return wvt_identical if weight.shape[0] >= weight.shape[1] else wvt_transp
    return wvt_flatten2d_transp if "Transpose" in type(module).__name__ else wvt_flatten2d


def _quad_penalty(self) -> Tensor:
    return self[0].manifold.C(self.original).square().sum()


def _feasibility(self) -> Tensor:
    return _quad_penalty(self).sqrt()


def set_constraint_dissolving(module: nn.Module, attr_name: str, manifold_class=euclidean_torch,
                              weight_var_transfer=None, manifold_args=None, penalty_param=0,
                              forward_with_A: bool = True) -> None:  # fmt: skip
    """Constrain ``module.<attr_name>`` to ``manifold_class`` (see the module doc).

    Example:
        >>> from torch import nn
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> conv = nn.Conv2d(1, 6, 5)
        >>> set_constraint_dissolving(conv, "weight", manifold_class=stiefel_torch)
        >>> conv.parametrizations.weight.original.shape, conv.weight.shape
        (torch.Size([150, 1]), torch.Size([6, 1, 5, 5]))

    Args:
        module: any module, e.g. ``nn.Linear(256, 120)``.
        attr_name: the parameter's name, e.g. ``"weight"``.
        manifold_class: a class of :mod:`~solvent.compat.cdopt.manifold_torch`.
        weight_var_transfer: ignored, as in CDOpt 0.5.5 (the view follows the shape).
        manifold_args: keyword arguments of the manifold class (CDOpt's default dtype:
            float32).
        penalty_param: lambda in ``lambda * ||C||^2``.
        forward_with_A: compute with A(X) (True) or with X.
    """
    weight = getattr(module, attr_name)
    to_var, to_weight, var_shape = _default_transfer(module, weight)(weight.shape)
    args = {"dtype": torch.float32, **(manifold_args or {})}
    manifold = manifold_class(var_shape, **args)
    with torch.no_grad():
        start = to_weight(manifold.Init_point(Xinit=to_var(weight.detach())))
    setattr(module, attr_name, nn.Parameter(start.to(weight.dtype)))
    parametrize.register_parametrization(
        module, attr_name, _Dissolve(manifold, to_var, to_weight, forward_with_A)
    )
    plist = module.parametrizations[attr_name]
    plist.manifold, plist.penalty_param = manifold, penalty_param
    plist.A = lambda X: to_weight(manifold.A(X))
    plist.C = manifold.C
    plist.quad_penalty = types.MethodType(_quad_penalty, plist)
    plist.feasibility = types.MethodType(_feasibility, plist)
