"""Point helpers shared by the checks: random inputs, tolerances, flat real views."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from solvent._points import Layout, flatten, map_parts, parts
from solvent.manifolds._linalg import tolerance, wide
from solvent.manifolds.base import Manifold

# ----------------------------------------------------------------------------- point helpers
# Points are tensors, or tuples of tensors for product manifolds; solvent._points
# treats both alike. Outputs may nest one level more ((A, C) of a product).


def _leaves(y) -> list[Tensor]:
    if isinstance(y, (tuple, list)):
        return [leaf for part in y for leaf in _leaves(part)]
    return [y]


def _flatten(y) -> Tensor:
    """A point, or an output nesting points ((A, C) of a product), as one flat real vector."""
    leaves = _leaves(y)
    return flatten(leaves[0] if len(leaves) == 1 else tuple(leaves))


def _norm(X) -> float:
    return float(torch.linalg.vector_norm(_flatten(X)))


def _randn_like(X, gen: torch.Generator):
    return map_parts(
        lambda t: torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=gen), X
    )


def _axpy(a: float, X, Y):
    """Y + a X, part by part."""
    return map_parts(lambda x, y: y + a * x, X, Y)


def _eps(X) -> float:
    return torch.finfo(parts(X)[0].dtype).eps


def _tol(M: Manifold, shape, X, factor: float = 100.0) -> float:
    """``tolerance`` of the point size, as ``Manifold.default_atol``, scaled by ``factor``."""
    return tolerance(M.point_numel(shape), parts(X)[0].dtype, factor)


def _is_product_shape(shape) -> bool:
    return bool(shape) and not isinstance(shape[0], int)


def _random(M: Manifold, shape, dtype, device, gen):
    return M.random(*shape, dtype=dtype, device=device, generator=gen)


def _free_input(M: Manifold, shape, dtype, device, gen, noise: float = 0.1):
    """A free variable near a random point's coordinates: ``lift(random) + noise * Gaussian``."""
    Z = M.lift(_random(M, shape, dtype, device, gen))
    return _axpy(noise, _randn_like(Z, gen), Z)


def _flat_fn(fn: Callable, x):
    """fn as a map between flat real vectors (complex parts as real pairs), and flat x."""
    layout = Layout(x)

    def flat(v: Tensor) -> Tensor:
        return _flatten(fn(layout.unflatten(v)))

    return flat, layout.flatten(x), layout.unflatten


def _wide(X):
    """X in float64 (complex128 for complex): the precision of the finite-difference references."""
    return map_parts(lambda t: t.to(wide(t.dtype)), X)


def _stack_outputs(outs: list):
    """Per-point outputs stacked along a new first dimension, nesting kept ((A, C) of a product)."""
    if isinstance(outs[0], (tuple, list)):
        return tuple(_stack_outputs([o[i] for o in outs]) for i in range(len(outs[0])))
    return torch.stack(outs)


def _sub_outputs(a, b):
    if isinstance(a, (tuple, list)):
        return tuple(_sub_outputs(x, y) for x, y in zip(a, b))
    return a - b
