"""CDOpt's names with CDOpt's semantics, so CDOpt code runs by changing its imports.

Replace ``from cdopt.nn import RNN_cdopt, get_quad_penalty`` and
``from cdopt.manifold_torch import stiefel_torch`` by
``from solvent.compat.cdopt import RNN_cdopt, get_quad_penalty, stiefel_torch``.

Semantics kept: a layer's ``penalty_param`` lambda adds ``lambda * ||C||^2`` to
:func:`get_quad_penalty`, i.e. ``beta = 2 * lambda`` in solvent's
``beta * 1/2 ||C||^2`` convention; the default manifold is Euclidean (no
constraint); ``get_constraint_violation`` is the norm of the vector of each
layer's ``||C||^2``. The layers are the plain torch layers constrained by
:func:`solvent.constrain`, so solvent's shape policy replaces CDOpt's
``weight_var_transfer`` and every solvent function works on them.

Example:
    >>> import torch
    >>> from solvent.compat.cdopt import Linear_cdopt, get_quad_penalty, stiefel_torch
    >>> fc = Linear_cdopt(8, 4, manifold_class=stiefel_torch, penalty_param=0.1)
    >>> float(get_quad_penalty(fc).detach()) < 1e-10
    True
"""

from __future__ import annotations

import types

import torch
from torch import Tensor, nn

import solvent
from solvent.layers.ops import constraints
from solvent.layers.dissolved import dissolved_of
from solvent.manifolds.base import Manifold

__all__ = [
    "Bilinear_cdopt", "Conv1d_cdopt", "Conv2d_cdopt", "Conv3d_cdopt", "ConvTranspose1d_cdopt",
    "ConvTranspose2d_cdopt", "ConvTranspose3d_cdopt", "GRUCell_cdopt", "GRU_cdopt",
    "LSTMCell_cdopt", "LSTM_cdopt", "Linear_cdopt", "RNNCell_cdopt", "RNN_cdopt",
    "euclidean_torch", "generalized_stiefel_torch", "get_constraint_violation",
    "get_constraint_violation_vector", "get_quad_penalty", "grassmann_torch", "hyperbolic_torch",
    "manifold_torch", "oblique_torch", "sphere_torch", "stiefel_torch", "symp_stiefel_torch",
]  # fmt: skip


class _ManifoldTorch:
    """A CDOpt ``manifold_torch`` class: built with a shape, names a solvent manifold.

    The solvent manifold is looked up lazily, so a name not (yet) registered
    fails with the registry's error when used.
    """

    solvent_name = "euclidean"

    def __init__(self, var_shape, device=None, dtype=None, **kwargs) -> None:
        self.var_shape = tuple(var_shape)
        self.device, self.dtype = device, dtype
        self.manifold = solvent.manifold(self.solvent_name, **kwargs)
        self.manifold.check_shape(self.var_shape)

    def A(self, X: Tensor) -> Tensor:
        """The constraint dissolving map A(X)."""
        return self.manifold.dissolve(X)

    def C(self, X: Tensor) -> Tensor:
        """The constraint C(X)."""
        return self.manifold.constraint(X)

    def Init_point(self, Xinit: Tensor | None = None) -> Tensor:
        """A feasible point: the projection of Xinit, or a random one."""
        if Xinit is None:
            return self.manifold.random(*self.var_shape, dtype=self.dtype, device=self.device)
        return self.manifold.project(Xinit)


def _manifold_class(cdopt_name: str, solvent_name: str) -> type:
    doc = f"CDOpt's ``{cdopt_name}``: solvent's ``{solvent_name!r}`` manifold."
    cls = type(cdopt_name, (_ManifoldTorch,), {"solvent_name": solvent_name, "__doc__": doc})
    cls.__module__ = __name__
    return cls


euclidean_torch = _manifold_class("euclidean_torch", "euclidean")
stiefel_torch = _manifold_class("stiefel_torch", "stiefel")
sphere_torch = _manifold_class("sphere_torch", "sphere")
oblique_torch = _manifold_class("oblique_torch", "oblique")
grassmann_torch = _manifold_class("grassmann_torch", "grassmann")
generalized_stiefel_torch = _manifold_class("generalized_stiefel_torch", "generalized_stiefel")
hyperbolic_torch = _manifold_class("hyperbolic_torch", "hyperbolic")
symp_stiefel_torch = _manifold_class("symp_stiefel_torch", "symplectic_stiefel")

manifold_torch = types.SimpleNamespace(
    euclidean_torch=euclidean_torch, stiefel_torch=stiefel_torch, sphere_torch=sphere_torch,
    oblique_torch=oblique_torch, grassmann_torch=grassmann_torch,
    generalized_stiefel_torch=generalized_stiefel_torch, hyperbolic_torch=hyperbolic_torch,
    symp_stiefel_torch=symp_stiefel_torch,
)  # fmt: skip


def _resolve(manifold_class: object, manifold_args: dict) -> Manifold:
    if isinstance(manifold_class, Manifold):
        return manifold_class
    if isinstance(manifold_class, type) and issubclass(manifold_class, _ManifoldTorch):
        return solvent.manifold(manifold_class.solvent_name, **manifold_args)
    if isinstance(manifold_class, type) and issubclass(manifold_class, Manifold):
        return manifold_class(**manifold_args)
    return solvent.manifold(manifold_class, **manifold_args)  # a registered name


class _CDOptLayer:
    """What CDOpt's layers add to the torch layer: ``quad_penalty`` and ``penalty_param``."""

    def _cdopt_init(self, manifold_class, penalty_param, weight_var_transfer, manifold_args):
        if weight_var_transfer is not None:
            raise TypeError(
                "weight_var_transfer is not supported: solvent's shape policy flattens and "
                "transposes weights itself; use solvent.constrain(..., transpose=...) to choose"
            )
        self.penalty_param = float(penalty_param)
        M = _resolve(manifold_class or euclidean_torch, dict(manifold_args or {}))
        solvent.constrain(self, None, M, beta=2.0 * self.penalty_param)

    @property
    def manifold(self) -> Manifold:
        """The solvent manifold of this layer's constrained weights."""
        return next(d.manifold for _, d, _ in constraints(self))

    def quad_penalty(self) -> Tensor:
        """||C||^2 summed over this layer's constrained weights (CDOpt's quad_penalty)."""
        return sum(2.0 * d.manifold.penalty(d.view.to_points(X)) for _, d, X in constraints(self))


def _cdopt_layer(base: type[nn.Module]) -> type[nn.Module]:
    def __init__(
        self, *args, manifold_class=None, penalty_param=0.0, weight_var_transfer=None,
        manifold_args=None, **kwargs,
    ) -> None:  # fmt: skip
        base.__init__(self, *args, **kwargs)
        self._cdopt_init(manifold_class, penalty_param, weight_var_transfer, manifold_args)

    name = f"{base.__name__}_cdopt"
    doc = (
        f"CDOpt's ``{name}``: :class:`torch.nn.{base.__name__}` with its main weight constrained "
        "to ``manifold_class`` (default Euclidean), penalty ``penalty_param * ||C||^2``."
    )
    cls = type(name, (_CDOptLayer, base), {"__init__": __init__, "__doc__": doc})
    cls.__module__, cls.__qualname__ = __name__, name
    return cls


Linear_cdopt = _cdopt_layer(nn.Linear)
Bilinear_cdopt = _cdopt_layer(nn.Bilinear)
Conv1d_cdopt = _cdopt_layer(nn.Conv1d)
Conv2d_cdopt = _cdopt_layer(nn.Conv2d)
Conv3d_cdopt = _cdopt_layer(nn.Conv3d)
ConvTranspose1d_cdopt = _cdopt_layer(nn.ConvTranspose1d)
ConvTranspose2d_cdopt = _cdopt_layer(nn.ConvTranspose2d)
ConvTranspose3d_cdopt = _cdopt_layer(nn.ConvTranspose3d)
RNN_cdopt = _cdopt_layer(nn.RNN)
LSTM_cdopt = _cdopt_layer(nn.LSTM)
GRU_cdopt = _cdopt_layer(nn.GRU)
RNNCell_cdopt = _cdopt_layer(nn.RNNCell)
LSTMCell_cdopt = _cdopt_layer(nn.LSTMCell)
GRUCell_cdopt = _cdopt_layer(nn.GRUCell)


def get_quad_penalty(model: nn.Module) -> Tensor:
    """Sum of ``penalty_param * ||C||^2`` over the constrained layers (= ``solvent.penalty``).

    Example:
        >>> from solvent.compat.cdopt import RNN_cdopt, get_quad_penalty, stiefel_torch
        >>> rnn = RNN_cdopt(3, 5, manifold_class=stiefel_torch, penalty_param=0.2)
        >>> float(get_quad_penalty(rnn).detach()) < 1e-10
        True
    """
    return solvent.penalty(model)


def get_constraint_violation_vector(model: nn.Module) -> list[Tensor]:
    """Each constrained module's ``||C||^2`` (summed over its weights), in module order."""
    out = []
    for module in model.modules():
        terms = [2.0 * d.manifold.penalty(d.view.to_points(X)) for _, d, X in _own(module)]
        if terms:
            out.append(sum(terms).detach())
    return out


def _own(module: nn.Module) -> list:
    return [
        (n, d, module._parameters[n]) for n, d in dissolved_of(module).items()
    ]


def get_constraint_violation(model: nn.Module, ord=None, **kwargs) -> Tensor:
    """The ``ord``-norm of :func:`get_constraint_violation_vector` (CDOpt's figure).

    Example:
        >>> from solvent.compat.cdopt import Linear_cdopt, get_constraint_violation, stiefel_torch
        >>> fc = Linear_cdopt(6, 3, manifold_class=stiefel_torch).double()
        >>> float(get_constraint_violation(fc)) < 1e-10
        True
    """
    vec = get_constraint_violation_vector(model)
    if not vec:
        return torch.zeros(())
    return torch.linalg.norm(torch.stack(vec), ord=ord, **kwargs)
