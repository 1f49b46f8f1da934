"""CDOpt's ``cdopt.manifold_torch``: manifold classes built with a variable shape.

A CDOpt manifold object knows its variable shape, device and dtype, and offers
the constraint dissolving map ``A``, the constraint ``C``, their derivatives
(``JA``: the adjoint of DA, ``JA_transpose``: DA itself, ``JC``, ``hessA``,
``hess_feas``), the feasibility ``Feas_eval`` (||C||_F) and the conversions
``v2m``/``m2v``/``array2tensor``/``tensor2array`` used with SciPy. Here each
class names a solvent manifold (``solvent.manifold(name)``) and every formula
is that manifold's; the derivatives come from torch's autograd.

Example:
    >>> import torch
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> M = stiefel_torch((6, 3))
    >>> X = M.Init_point()
    >>> X.dtype, float(M.Feas_eval(X)) < 1e-12
    (torch.float64, True)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

import solvent
from solvent.compat.cdopt._autodiff import jvp as _jvp
from solvent.compat.cdopt._autodiff import vjp as _vjp

__all__ = [
    "basic_manifold_torch", "euclidean_torch", "generalized_stiefel_torch", "grassmann_torch",
    "hyperbolic_torch", "oblique_torch", "sphere_torch", "stiefel_torch", "symp_stiefel_torch",
]  # fmt: skip


class basic_manifold_torch:
    """A CDOpt PyTorch manifold of variables of shape ``var_shape`` (see the module doc).

    The classes below (``stiefel_torch``, ...) each name a solvent manifold.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.manifold_torch import oblique_torch
        >>> M = oblique_torch((3, 2))
        >>> X = M.Init_point()
        >>> torch.allclose(X.detach().norm(dim=1), torch.ones(3, dtype=torch.float64))
        True

    Args:
        var_shape: the shape of one variable, e.g. ``(n, p)``.
        device: where ``Init_point`` and the constants live (CDOpt's default: CPU).
        dtype: the dtype of ``Init_point`` (CDOpt's default: float64).
        **manifold_args: passed to the solvent manifold (``B=`` for generalized Stiefel).
    """

    solvent_name = "euclidean"

    def __init__(self, var_shape, device=None, dtype=torch.float64, **manifold_args) -> None:
        self.var_shape = tuple(int(s) for s in var_shape)
        self.shape = (self.var_shape,)
        self.device = torch.device("cpu") if device is None else device
        self.dtype = dtype
        self.var_num = math.prod(self.var_shape)
        self.manifold_type = "S"
        self.name = type(self).__name__
        self.manifold = solvent.manifold(self.solvent_name, **self._solvent_args(manifold_args))
        self.manifold.check_shape(self.var_shape)
        self._parameters = OrderedDict(self._constants())
        # Validated once here (and by the layers for their weights' shapes); per call the
        # maths only, through solvent's protected hooks where the manifold has them.
        M = self.manifold
        self._dissolve = getattr(M, "_dissolve", M.dissolve)
        self._constraint = getattr(M, "_constraint", M.constraint)

    # ------------------------------------------------------------------ set-up hooks
    def _solvent_args(self, manifold_args: dict) -> dict:
        return dict(manifold_args)

    def _constants(self) -> list[tuple[str, Tensor]]:
        """The tensors CDOpt's class keeps in ``_parameters`` (they reach a Linear's state_dict)."""
        return []

    def _eye(self) -> list[tuple[str, Tensor]]:
        *batch, p = self.var_shape[:-2] + self.var_shape[-1:]
        eye = torch.eye(p, device=self.device, dtype=self.dtype)
        return [("Ip", eye.expand(*batch, p, p).clone())]

    # ------------------------------------------------------------------ maps
    def A(self, X: Tensor) -> Tensor:
        """The constraint dissolving map A(X)."""
        return self._dissolve(X)

    def C(self, X: Tensor) -> Tensor:
        """The constraint C(X), zero on the manifold."""
        return self._constraint(X)

    def JA(self, X: Tensor, G: Tensor) -> Tensor:
        """``DA(X)^* [G]`` (CDOpt's naming: the transposed Jacobian applied to G)."""
        return _vjp(self.A, X, G)

    def JA_transpose(self, X: Tensor, D: Tensor) -> Tensor:
        """``DA(X)[D]``."""
        return _jvp(self.A, X, D)

    def JC(self, X: Tensor, Lambda: Tensor) -> Tensor:
        """``DC(X)^* [Lambda]``."""
        return _vjp(self.C, X, Lambda)

    def JC_transpose(self, X: Tensor, D: Tensor) -> Tensor:
        """``DC(X)[D]``."""
        return _jvp(self.C, X, D)

    def hessA(self, X: Tensor, gradf: Tensor, D: Tensor) -> Tensor:
        """The derivative of ``X -> DA(X)^* [gradf]`` in direction D."""
        return _jvp(lambda Y: self.JA(Y, gradf), X, D)

    def hess_feas(self, X: Tensor, D: Tensor) -> Tensor:
        """The Hessian of 1/2 ||C(X)||^2 applied to D."""
        return _jvp(lambda Y: self.JC(Y, self.C(Y)), X, D)

    def C_quad_penalty(self, X: Tensor) -> Tensor:
        """``||C(X)||_F^2`` (no 1/2: CDOpt's figure)."""
        return self.C(X).square().sum()

    def Feas_eval(self, X: Tensor) -> Tensor:
        """``||C(X)||_F``: the feasibility CDOpt reports (detached: a figure to read, so
        ``float()`` and ``format`` on it do not warn)."""
        with torch.no_grad():
            return self.C_quad_penalty(X).sqrt()

    # ------------------------------------------------------------------ points
    def Init_point(self, Xinit: Tensor | None = None) -> Tensor:
        """A feasible point (solvent's ``project`` of Xinit, or of a Gaussian draw), with grad.

        The draw is CDOpt's (``torch.randn(*var_shape)`` from the global generator,
        then cast), so a seeded CDOpt program starts from the same point.
        """
        X = torch.randn(*self.var_shape) if Xinit is None else torch.as_tensor(Xinit).detach()
        X = self.Post_process(X.to(device=self.device, dtype=self.dtype))
        return X.detach().requires_grad_(True)

    def Post_process(self, X: Tensor) -> Tensor:
        """A feasible point near X (solvent's ``project``)."""
        with torch.no_grad():
            return self.manifold.project(X)

    def v2m(self, x: Tensor) -> Tensor:
        """A flat vector reshaped to ``var_shape``."""
        return torch.reshape(x, self.var_shape)

    def m2v(self, X: Tensor) -> Tensor:
        """A variable flattened to a vector."""
        return X.flatten()

    def array2tensor(self, X_array) -> Tensor:
        """A NumPy array as a tensor of this manifold's device and dtype, with grad."""
        X = torch.as_tensor(np.asarray(X_array)).to(device=self.device, dtype=self.dtype)
        return X.requires_grad_(True)

    def tensor2array(self, X_tensor: Tensor, np_dtype=np.float64) -> np.ndarray:
        """A tensor as a NumPy array (float64 by default)."""
        return np_dtype(X_tensor.detach().cpu().numpy())

    # ------------------------------------------------------------------ CDF builders
    def generate_cdf_fun(self, obj_fun: Callable, beta: float) -> Callable:
        """``X -> f(A(X)) + beta/2 ||C(X)||^2``."""
        return lambda X: obj_fun(self.A(X)) + (beta / 2) * self.C_quad_penalty(X)

    def generate_cdf_grad(self, obj_grad: Callable, beta: float) -> Callable:
        """``X -> DA(X)^* grad f(A(X)) + beta DC(X)^* C(X)``."""
        return lambda X: self.JA(X, obj_grad(self.A(X))) + beta * self.JC(X, self.C(X))

    def generate_cdf_hess(self, obj_grad: Callable, obj_hess: Callable, beta: float) -> Callable:
        """``(X, D) ->`` the CDF's Hessian applied to D (grad f taken at A(X))."""

        def hvp(X: Tensor, D: Tensor) -> Tensor:
            AX = self.A(X)
            first = self.JA(X, obj_hess(AX, self.JA_transpose(X, D)))
            return first + self.hessA(X, obj_grad(AX), D) + beta * self.hess_feas(X, D)

        return hvp

    def __repr__(self) -> str:
        return f"{self.name}({self.var_shape}, solvent={self.manifold!r})"


_EXAMPLE = """

    Example:
        >>> from {module} import {name}
        >>> M = {name}({shape})
        >>> float(M.Feas_eval(M.Init_point())) < 1e-8
        True
"""


def _manifold_class(name: str, solvent_name: str, constants=None, solvent_args=None,
                    shape=(4, 2)) -> type:  # fmt: skip
    doc = (f"CDOpt's ``{name}``: solvent's ``{solvent_name!r}`` manifold, variables of shape "
           "``var_shape``." + _EXAMPLE.format(module=__name__, name=name, shape=shape))
    body = {"solvent_name": solvent_name, "__doc__": doc}
    if constants is not None:
        body["_constants"] = constants
    if solvent_args is not None:
        body["_solvent_args"] = solvent_args
    cls = type(name, (basic_manifold_torch,), body)
    cls.__module__ = __name__
    return cls


def _euclidean_constants(self) -> list[tuple[str, Tensor]]:
    zeros = torch.zeros(self.var_shape, device=self.device, dtype=self.dtype)
    return [("zeroX", zeros), ("zero_scalar", zeros.new_zeros(1))]


def _b_constants(self) -> list[tuple[str, Tensor]]:
    B = getattr(self.manifold, "B", None)
    return ([("B", B)] if isinstance(B, Tensor) else []) + self._eye()


def _whole_sphere(self, manifold_args: dict) -> dict:
    # CDOpt's sphere is the unit sphere of the whole variable, whatever its shape.
    return {"ndim": len(self.var_shape), **manifold_args}


euclidean_torch = _manifold_class("euclidean_torch", "euclidean", _euclidean_constants)
stiefel_torch = _manifold_class("stiefel_torch", "stiefel", basic_manifold_torch._eye)
grassmann_torch = _manifold_class("grassmann_torch", "grassmann", basic_manifold_torch._eye)
sphere_torch = _manifold_class("sphere_torch", "sphere", solvent_args=_whole_sphere)
oblique_torch = _manifold_class("oblique_torch", "oblique")
generalized_stiefel_torch = _manifold_class(
    "generalized_stiefel_torch", "generalized_stiefel", _b_constants
)
hyperbolic_torch = _manifold_class("hyperbolic_torch", "hyperbolic", _b_constants)
symp_stiefel_torch = _manifold_class(
    "symp_stiefel_torch", "symplectic_stiefel", basic_manifold_torch._eye
)
