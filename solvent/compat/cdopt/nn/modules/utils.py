"""CDOpt's ``cdopt.nn.modules.utils``: penalties, violations and weight/variable transfers.

A *weight-variable transfer* (``weight_var_transfer``) maps a weight's shape to
``(weight_to_var, var_to_weight, var_shape)``: how a layer's weight is viewed as
a variable of the manifold. The ``wvt_*`` functions are CDOpt's choices.

Example:
    >>> import torch
    >>> from solvent.compat.cdopt.nn.modules.utils import wvt_flatten2d
    >>> to_var, to_weight, var_shape = wvt_flatten2d((6, 2, 3, 3))   # a Conv2d weight
    >>> var_shape                                                  # (out * k * k, in)
    (54, 2)
    >>> W = torch.randn(6, 2, 3, 3)
    >>> torch.equal(to_weight(to_var(W)), W)
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = [
    "get_Amapped_params", "get_constraint_violation", "get_constraint_violation_vector",
    "get_named_Amapped_params", "get_named_params_manifolds", "get_params_manifolds",
    "get_quad_penalty", "parameters_to_vector", "wvt_flatten2d", "wvt_flatten2d_transp",
    "wvt_identical", "wvt_transp",
]  # fmt: skip


# ---------------------------------------------------------------------- transfers
# Module-level functions bound with functools.partial, so layers stay picklable.
def _identity(X: Tensor) -> Tensor:
    return X


def _swap_last(X: Tensor) -> Tensor:
    return X.transpose(-2, -1)


def _flat_var(W: Tensor, swap: bool) -> Tensor:
    W = W.transpose(0, 1) if swap else W
    return W.reshape(W.shape[0], -1).T


def _flat_weight(X: Tensor, shape: tuple, swap: bool) -> Tensor:
    if not swap:
        return X.T.reshape(shape)
    return X.T.reshape((shape[1], shape[0], *shape[2:])).transpose(0, 1)


def wvt_identical(tensor_shape) -> tuple:
    """The weight is the variable.

    Example:
        >>> from solvent.compat.cdopt.nn.modules.utils import wvt_identical
        >>> wvt_identical((20, 5))[2]
        (20, 5)
    """
    return _identity, _identity, tuple(int(s) for s in tensor_shape)


def wvt_transp(tensor_shape) -> tuple:
    """The variable is the weight with its last two dimensions swapped.

    Example:
        >>> from solvent.compat.cdopt.nn.modules.utils import wvt_transp
        >>> wvt_transp((3, 8))[2]
        (8, 3)
    """
    *batch, m, n = (int(s) for s in tensor_shape)
    return _swap_last, _swap_last, (*batch, n, m)


def wvt_flatten2d(tensor_shape) -> tuple:
    """A conv weight ``(out, in, *k)`` as the ``(out * prod(k), in)`` matrix (CDOpt's conv view).

    Example:
        >>> from solvent.compat.cdopt.nn.modules.utils import wvt_flatten2d
        >>> wvt_flatten2d((16, 6, 5, 5))[2]
        (400, 6)
    """
    shape = tuple(int(s) for s in tensor_shape)
    var_shape = (shape[0] * math.prod(shape[2:]), shape[1])
    return (functools.partial(_flat_var, swap=True),
            functools.partial(_flat_weight, shape=shape, swap=True), var_shape)  # fmt: skip


def wvt_flatten2d_transp(tensor_shape) -> tuple:
    """A weight ``(a, b, *k)`` as the ``(b * prod(k), a)`` matrix (CDOpt's transposed-conv view).

    Example:
        >>> from solvent.compat.cdopt.nn.modules.utils import wvt_flatten2d_transp
        >>> wvt_flatten2d_transp((4, 3, 2, 2))[2]          # ConvTranspose2d(4, 3, 2)
        (12, 4)
    """
    shape = tuple(int(s) for s in tensor_shape)
    var_shape = (math.prod(shape[1:]), shape[0])
    return (functools.partial(_flat_var, swap=False),
            functools.partial(_flat_weight, shape=shape, swap=False), var_shape)  # fmt: skip


# ---------------------------------------------------------------------- penalties
def _walk(module: nn.Module) -> Iterator[nn.Module]:
    """The module and its submodules, through ``_modules`` directly: a ``RemoteModule``
    (torch.distributed.nn) refuses ``modules()`` and has no ``_modules``; it holds no
    local layers."""
    yield module
    for child in (getattr(module, "_modules", None) or {}).values():
        if child is not None:
            yield from _walk(child)


def get_quad_penalty(local_module: nn.Module):
    """Sum over the constrained layers of ``penalty_param * ||C||^2`` (0 when there are none).

    Example:
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, get_quad_penalty
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> fc = Linear_cdopt(8, 4, manifold_class=stiefel_torch, penalty_param=0.1)
        >>> float(get_quad_penalty(fc).detach()) < 1e-10
        True
    """
    total = 0
    for module in _walk(local_module):
        if hasattr(module, "quad_penalty"):
            total = total + module.penalty_param * module.quad_penalty()
    return total


def get_constraint_violation_vector(local_module: nn.Module) -> list[Tensor]:
    """Each constrained layer's ``||C||_F`` (CDOpt's measure: the norm, not its square).

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, get_constraint_violation_vector
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> fc = Linear_cdopt(2, 2, manifold_class=stiefel_torch)
        >>> with torch.no_grad():
        ...     _ = fc.weight.copy_(2 * torch.eye(2))
        >>> [round(float(v.detach()), 4) for v in get_constraint_violation_vector(fc)]  # ||3I||
        [4.2426]
    """
    return [m.quad_penalty().sqrt() for m in _walk(local_module) if hasattr(m, "quad_penalty")]


def get_constraint_violation(local_module: nn.Module, ord=None, **kwargs) -> Tensor:
    """The ``ord``-norm of :func:`get_constraint_violation_vector` (detached).

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import LSTM_cdopt, get_constraint_violation
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> lstm = LSTM_cdopt(3, 4, manifold_class=stiefel_torch)
        >>> float(get_constraint_violation(lstm)) < 1e-5
        True
    """
    vec = [v.detach() for v in get_constraint_violation_vector(local_module)]
    if not vec:
        return torch.zeros(())
    return torch.linalg.norm(torch.stack(vec), ord=ord, **kwargs)


# ---------------------------------------------------------------------- parameter views
def _own_params(module: nn.Module, mapped: bool) -> Iterator[tuple[str, object]]:
    manifold = getattr(module, "manifold", None)
    for name, p in module._parameters.items():
        if p is None:
            continue
        if not mapped:
            yield name, (p, manifold)
        elif name in getattr(module, "_cdopt_weights", ()):
            yield name, module.A(p)
        else:
            yield name, p


def get_named_params_manifolds(module: nn.Module, prefix: str = "", recurse: bool = True):
    """``(name, (parameter, manifold or None))`` in ``named_parameters`` order.

    Example:
        >>> from torch import nn
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, get_named_params_manifolds
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> net = nn.Sequential(Linear_cdopt(4, 2, manifold_class=stiefel_torch), nn.Linear(2, 1))
        >>> [(n, type(M).__name__) for n, (p, M) in get_named_params_manifolds(net)][1:3]
        [('0.bias', 'stiefel_torch'), ('1.weight', 'NoneType')]
    """
    for mod_prefix, mod in module.named_modules(prefix=prefix) if recurse else [(prefix, module)]:
        for name, value in _own_params(mod, mapped=False):
            yield (f"{mod_prefix}.{name}" if mod_prefix else name), value


def get_params_manifolds(module: nn.Module, prefix: str = "", recurse: bool = True):
    """``(parameter, manifold or None)`` in ``parameters`` order (see
    :func:`get_named_params_manifolds`).

    Example:
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, get_params_manifolds
        >>> len(list(get_params_manifolds(Linear_cdopt(3, 2))))
        2
    """
    for _, value in get_named_params_manifolds(module, prefix, recurse):
        yield value


def get_named_Amapped_params(module: nn.Module, prefix: str = "", recurse: bool = True):
    """``(name, A(parameter))`` for constrained weights, ``(name, parameter)`` for the rest.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, get_named_Amapped_params
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> fc = Linear_cdopt(2, 2, manifold_class=stiefel_torch)
        >>> with torch.no_grad():
        ...     _ = fc.weight.copy_(2 * torch.eye(2))
        >>> dict(get_named_Amapped_params(fc))["weight"].tolist()      # A(2I) = -I
        [[-1.0, 0.0], [0.0, -1.0]]
    """
    for mod_prefix, mod in module.named_modules(prefix=prefix) if recurse else [(prefix, module)]:
        for name, value in _own_params(mod, mapped=True):
            yield (f"{mod_prefix}.{name}" if mod_prefix else name), value


def get_Amapped_params(module: nn.Module, prefix: str = "", recurse: bool = True):
    """The values of :func:`get_named_Amapped_params`.

    Example:
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, get_Amapped_params
        >>> [tuple(p.shape) for p in get_Amapped_params(Linear_cdopt(3, 2))]
        [(2, 3), (2,)]
    """
    for _, value in get_named_Amapped_params(module, prefix, recurse):
        yield value


def parameters_to_vector(parameters) -> Tensor:
    """Concatenate tensors into one flat vector (they must share a device).

    Example:
        >>> from solvent.compat.cdopt.nn import Linear_cdopt, parameters_to_vector
        >>> parameters_to_vector(Linear_cdopt(3, 2).parameters()).shape
        torch.Size([8])
    """
    return torch.nn.utils.parameters_to_vector(parameters)
