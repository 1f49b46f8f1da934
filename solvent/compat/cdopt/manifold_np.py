"""CDOpt's ``cdopt.manifold_np``: the same manifolds for NumPy arrays.

Objectives for these classes are written in NumPy (with ``autograd.numpy`` when
their derivatives should be computed automatically, as in CDOpt's examples; the
``autograd`` package is then needed: ``pip install autograd``). The maps run on
solvent's torch manifolds in float64 on the CPU; arrays go in and come out.
``array2tensor`` and ``tensor2array`` are the identity, as in CDOpt.

Example:
    >>> import numpy as np
    >>> from solvent.compat.cdopt.manifold_np import stiefel_np
    >>> M = stiefel_np((5, 2))
    >>> X = M.Init_point()
    >>> type(X).__name__, M.Feas_eval(X) < 1e-12
    ('ndarray', True)
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from solvent.compat.cdopt import manifold_torch as _mt

__all__ = [
    "basic_manifold_np", "euclidean_np", "generalized_stiefel_np", "grassmann_np",
    "hyperbolic_np", "oblique_np", "sphere_np", "stiefel_np", "symp_stiefel_np",
]  # fmt: skip


def _to_tensor(x: object) -> object:
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    return x


def _to_array(t: object) -> object:
    if isinstance(t, Tensor):
        out = t.detach().cpu().numpy()
        return float(out) if out.ndim == 0 else out
    return t


def _numpy_io(method):
    """Run a torch method of the twin manifold on NumPy arguments; return NumPy."""

    @functools.wraps(method)
    def wrapper(self, *args):
        return _to_array(method(self._twin, *map(_to_tensor, args)))

    return wrapper


class basic_manifold_np:
    """A CDOpt NumPy manifold: the torch class of the same name, with array input and output.

    Example:
        >>> import numpy as np
        >>> from solvent.compat.cdopt.manifold_np import sphere_np
        >>> M = sphere_np((3, 1))
        >>> M.A(np.array([[1.0], [1.0], [0.0]])).ravel().tolist()   # 2X / (1 + ||X||^2)
        [0.6666666666666666, 0.6666666666666666, 0.0]

    Args:
        var_shape: the shape of one variable.
        **manifold_args: passed to the solvent manifold (``B=`` as a NumPy array or tensor).
    """

    torch_class = _mt.euclidean_torch

    def __init__(self, var_shape, **manifold_args) -> None:
        args = {k: _to_tensor(v) for k, v in manifold_args.items()}
        self._twin = self.torch_class(var_shape, device="cpu", dtype=torch.float64, **args)
        self.var_shape, self.shape = self._twin.var_shape, self._twin.shape
        self.var_num, self.manifold_type = self._twin.var_num, "S"
        self.name, self.manifold = type(self).__name__, self._twin.manifold

    A = _numpy_io(_mt.basic_manifold_torch.A)
    C = _numpy_io(_mt.basic_manifold_torch.C)
    JA = _numpy_io(_mt.basic_manifold_torch.JA)
    JA_transpose = _numpy_io(_mt.basic_manifold_torch.JA_transpose)
    JC = _numpy_io(_mt.basic_manifold_torch.JC)
    JC_transpose = _numpy_io(_mt.basic_manifold_torch.JC_transpose)
    hessA = _numpy_io(_mt.basic_manifold_torch.hessA)
    hess_feas = _numpy_io(_mt.basic_manifold_torch.hess_feas)
    C_quad_penalty = _numpy_io(_mt.basic_manifold_torch.C_quad_penalty)
    Feas_eval = _numpy_io(_mt.basic_manifold_torch.Feas_eval)
    Post_process = _numpy_io(_mt.basic_manifold_torch.Post_process)

    def Init_point(self, Xinit: np.ndarray | None = None) -> np.ndarray:
        """A feasible point: solvent's ``project`` of Xinit, or of a ``np.random.randn`` draw."""
        X = np.random.randn(*self.var_shape) if Xinit is None else np.asarray(Xinit)
        return self.Post_process(np.asarray(X, dtype=np.float64))

    def v2m(self, x: np.ndarray) -> np.ndarray:
        """A flat vector reshaped to ``var_shape``."""
        return np.reshape(x, self.var_shape)

    def m2v(self, X: np.ndarray) -> np.ndarray:
        """A variable flattened to a vector."""
        return np.reshape(X, -1)

    def array2tensor(self, X_array: np.ndarray) -> np.ndarray:
        """The identity: NumPy variables are arrays (CDOpt's autograd backbone)."""
        return X_array

    def tensor2array(self, X_tensor: np.ndarray) -> np.ndarray:
        """The identity: NumPy variables are arrays (CDOpt's autograd backbone)."""
        return X_tensor

    def generate_cdf_fun(self, obj_fun, beta: float):
        """``X -> f(A(X)) + beta/2 ||C(X)||^2`` on arrays."""
        return lambda X: obj_fun(self.A(X)) + (beta / 2) * self.C_quad_penalty(X)

    def generate_cdf_grad(self, obj_grad, beta: float):
        """``X -> DA(X)^* grad f(A(X)) + beta DC(X)^* C(X)`` on arrays."""
        return lambda X: self.JA(X, obj_grad(self.A(X))) + beta * self.JC(X, self.C(X))

    def __repr__(self) -> str:
        return f"{self.name}({self.var_shape}, solvent={self.manifold!r})"


def _np_class(name: str, torch_class: type, shape=(4, 2)) -> type:
    doc = (f"CDOpt's ``{name}``: :class:`{torch_class.__name__}` on NumPy arrays."
           + _mt._EXAMPLE.format(module=__name__, name=name, shape=shape))
    cls = type(name, (basic_manifold_np,), {"torch_class": torch_class, "__doc__": doc})
    cls.__module__ = __name__
    return cls


euclidean_np = _np_class("euclidean_np", _mt.euclidean_torch)
stiefel_np = _np_class("stiefel_np", _mt.stiefel_torch)
grassmann_np = _np_class("grassmann_np", _mt.grassmann_torch)
sphere_np = _np_class("sphere_np", _mt.sphere_torch)
oblique_np = _np_class("oblique_np", _mt.oblique_torch)
generalized_stiefel_np = _np_class("generalized_stiefel_np", _mt.generalized_stiefel_torch)
hyperbolic_np = _np_class("hyperbolic_np", _mt.hyperbolic_torch)
symp_stiefel_np = _np_class("symp_stiefel_np", _mt.symp_stiefel_torch)
