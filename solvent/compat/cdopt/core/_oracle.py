"""The objective's value, gradient and Hessian-vector product, on torch tensors.

A CDOpt objective is written for the manifold's kind of variable: torch tensors
for ``*_torch`` manifolds, NumPy arrays for ``*_np`` ones. Missing derivatives
come from automatic differentiation: torch's for tensors, ``autograd``'s for
arrays (as CDOpt does). :class:`Oracle` hides the difference: everything it
takes and returns is a tensor of the torch twin manifold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["Oracle"]


def _autograd():
    try:
        import autograd
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "a NumPy objective without obj_grad/obj_hvp needs the autograd package for its "
            "derivatives (write it with autograd.numpy, as CDOpt's examples do): "
            "pip install autograd, or pass obj_grad= and obj_hvp="
        ) from err
    return autograd


def _no_autodiff(what: str) -> Callable:
    def fail(*_: object) -> None:
        raise NotImplementedError(
            f"automatic differentiation is not enabled (enable_autodiff=False): pass {what}"
        )

    return fail


class Oracle:
    """``value(Y)``, ``grad(Y)``, ``hvp(Y, V)`` of the objective, on tensors.

    Args:
        obj_fun, obj_grad, obj_hvp: the user's functions (the last two optional).
        numpy: whether they take NumPy arrays (a ``*_np`` manifold).
        autodiff: whether missing derivatives may be computed automatically.
    """

    def __init__(self, obj_fun, obj_grad=None, obj_hvp=None, *, numpy: bool, autodiff: bool):
        self.numpy = numpy
        self.obj_fun = obj_fun
        self.obj_grad, self.obj_hvp = obj_grad, obj_hvp
        if numpy and autodiff and obj_grad is None:
            self.obj_grad = _autograd().grad(obj_fun)
        if numpy and autodiff and obj_hvp is None:
            self.obj_hvp = self._autograd_hvp
        if not autodiff:
            self.obj_grad = obj_grad or _no_autodiff("obj_grad=")
            self.obj_hvp = obj_hvp or _no_autodiff("obj_hvp=")

    def _autograd_hvp(self, Y: np.ndarray, V: np.ndarray) -> np.ndarray:
        pullback, _ = _autograd().make_vjp(self.obj_grad)(Y)
        return pullback(V)

    # ------------------------------------------------------------------ on tensors
    def value(self, Y: Tensor) -> Tensor:
        """f(Y); for NumPy objectives a (non-differentiable) float64 tensor."""
        if self.numpy:
            return torch.as_tensor(float(self.obj_fun(Y.detach().numpy())), dtype=torch.float64)
        return self.obj_fun(Y)

    def grad(self, Y: Tensor) -> Tensor:
        """grad f(Y), detached."""
        if self.numpy:
            return _tensor(self.obj_grad(Y.detach().numpy()), Y)
        if self.obj_grad is not None:
            return self.obj_grad(Y.detach()).detach()
        Y = Y.detach().requires_grad_(True)
        with torch.enable_grad():
            return torch.autograd.grad(self.obj_fun(Y), Y)[0]

    def hvp(self, Y: Tensor, V: Tensor) -> Tensor:
        """The Hessian of f at Y applied to V, detached."""
        if self.numpy:
            return _tensor(self.obj_hvp(Y.detach().numpy(), V.detach().numpy()), Y)
        if self.obj_hvp is not None:
            return self.obj_hvp(Y.detach(), V.detach()).detach()
        Y = Y.detach().requires_grad_(True)
        with torch.enable_grad():
            if self.obj_grad is None:
                g = torch.autograd.grad(self.obj_fun(Y), Y, create_graph=True)[0]
            else:
                g = self.obj_grad(Y)
            return torch.autograd.grad((g * V).sum(), Y)[0]


def _tensor(a: object, like: Tensor) -> Tensor:
    return torch.as_tensor(np.asarray(a), dtype=like.dtype).reshape(like.shape)
