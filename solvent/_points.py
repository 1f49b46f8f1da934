"""Point operations: a point as one flat real vector, and back.

A point is a tensor or, for a product manifold, a tuple of tensors; any part
may be complex. Solvers, the conformance kit and the generic dissolving map
all need the same view of it: one flat *real* vector, complex parts as
(real, imag) pairs, so that autograd with respect to that vector is plain
real calculus. This module is the one place that mapping lives.

API:
    ``Point``              the type: ``Tensor | tuple[Tensor, ...]``.
    ``parts(X)``           the tensors of a point, always a tuple.
    ``join(parts, like)``  the inverse: a tuple if ``like`` is a tuple point, else the tensor.
    ``map_parts(fn, X, *Ys)``  apply ``fn`` to every tensor (and the matching ones of Ys),
                           keep the structure.
    ``Layout(X)``          the structure of X (shapes, complexity, dtype, device), with
                           ``flatten(X)`` (a real 1-D tensor) and ``unflatten(x)`` (differentiable).
    ``flatten(X)``         ``Layout(X).flatten(X)`` in one call.

Example:
    >>> import torch
    >>> X = (torch.ones(2, 3), torch.zeros(2, dtype=torch.complex64))
    >>> L = Layout(X)
    >>> x = L.flatten(X)
    >>> x.shape, x.dtype
    (torch.Size([10]), torch.float32)
    >>> [tuple(t.shape) for t in L.unflatten(x)]
    [(2, 3), (2,)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["Layout", "Point", "flatten", "join", "map_parts", "parts"]

Point = Tensor | tuple[Tensor, ...]


def parts(X: Point) -> tuple[Tensor, ...]:
    """The tensors of a point: ``(X,)`` for a tensor, the tuple itself for a product point.

    Example:
        >>> import torch
        >>> len(parts(torch.zeros(3))), len(parts((torch.zeros(3), torch.zeros(2))))
        (1, 2)
    """
    return (X,) if isinstance(X, Tensor) else tuple(X)


def join(tensors: Sequence[Tensor], like: Point | bool) -> Point:
    """Inverse of :func:`parts`: a tuple when ``like`` is a tuple point (or True), else the tensor.

    Example:
        >>> import torch
        >>> type(join([torch.zeros(2)], like=torch.zeros(2))).__name__
        'Tensor'
    """
    as_tuple = like if isinstance(like, bool) else not isinstance(like, Tensor)
    return tuple(tensors) if as_tuple else tensors[0]


def map_parts(fn: Callable[..., Tensor], X: Point, *others: Point) -> Point:
    """``fn`` applied to every tensor of X (with the matching tensors of ``others``), X's structure.

    Example:
        >>> import torch
        >>> map_parts(lambda t: t + 1, (torch.zeros(1), torch.zeros(1)))
        (tensor([1.]), tensor([1.]))
        >>> map_parts(torch.sub, torch.ones(2), torch.ones(2))
        tensor([0., 0.])
    """
    return join([fn(*ts) for ts in zip(parts(X), *(parts(Y) for Y in others))], X)


class Layout:
    """The structure of a point, and the map between it and one flat real vector.

    Attributes:
        shapes: the shape of each part.
        complex: whether each part is complex (it then takes twice its numel in the vector).
        sizes: how many real entries each part takes.
        size: the length of the flat vector.
        real_dtype: the real dtype of the vector (float64 for complex128 parts, ...).
        device: the device of the first part.
        is_tuple: whether the point is a tuple (a product manifold's point).

    Example:
        >>> import torch
        >>> L = Layout((torch.zeros(2, 3), torch.zeros(4, dtype=torch.complex128)))
        >>> L.size, L.sizes
        (14, [6, 8])
    """

    def __init__(self, X: Point) -> None:
        ps = parts(X)
        self.is_tuple = not isinstance(X, Tensor)
        self.shapes = [tuple(t.shape) for t in ps]
        self.complex = [t.is_complex() for t in ps]
        self.sizes = [math.prod(s) * (2 if c else 1) for s, c in zip(self.shapes, self.complex)]
        self.size = sum(self.sizes)
        self.real_dtype = ps[0].real.dtype
        self.device = ps[0].device

    def flatten(self, X: Point) -> Tensor:
        """The real flat vector of X (a view when X is one contiguous real tensor, else a copy)."""
        flat = [(torch.view_as_real(t) if t.is_complex() else t).reshape(-1) for t in parts(X)]
        return flat[0] if len(flat) == 1 else torch.cat(flat)

    def unflatten(self, x: Tensor) -> Point:
        """The point whose flat vector is x (real parts are views of x); autograd reaches x."""
        if not self.is_tuple:  # one tensor: no split (a node fewer in every backward)
            shape = self.shapes[0]
            return _as_complex(x.view(*shape, 2)) if self.complex[0] else x.view(shape)
        out = []
        for chunk, shape, cplx in zip(x.split(self.sizes), self.shapes, self.complex):
            out.append(_as_complex(chunk.view(*shape, 2)) if cplx else chunk.view(shape))
        return join(out, self.is_tuple)


def _as_complex(pairs: Tensor) -> Tensor:
    """The complex tensor of (real, imag) pairs, differentiable to any order.

    ``torch.view_as_complex`` would be a view, but it needs an even storage
    offset, and its double backward needs one in the gradient too (a complex
    part after an odd-sized real part fails there), so the parts are combined.
    """
    return torch.complex(pairs[..., 0], pairs[..., 1])


def flatten(X: Point) -> Tensor:
    """The real flat vector of a point: ``Layout(X).flatten(X)``.

    Example:
        >>> import torch
        >>> flatten(torch.tensor([1 + 2j])).tolist()
        [1.0, 2.0]
    """
    return Layout(X).flatten(X)
