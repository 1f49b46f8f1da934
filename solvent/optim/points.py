"""Points as flat real vectors: what SciPy sees.

A point is a tensor or, for a product manifold, a tuple of tensors. SciPy works
on one flat real float64 vector, so a :class:`Packer` records the shapes and
dtypes once and maps between the two. Complex parts travel as (real, imag)
pairs, so autograd with respect to the flat vector is plain real calculus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["Point", "Packer", "as_parts", "from_parts"]

Point = Tensor | tuple[Tensor, ...]


def as_parts(X: Point) -> tuple[Tensor, ...]:
    """The tensors of a point: ``(X,)`` for a tensor, the tuple itself for a product point."""
    return (X,) if isinstance(X, Tensor) else tuple(X)


def from_parts(parts: Sequence[Tensor], like_tuple: bool) -> Point:
    """Inverse of :func:`as_parts`."""
    return tuple(parts) if like_tuple else parts[0]


class Packer:
    """Flatten a point to one real vector and back, for a fixed structure.

    Example:
        >>> import torch
        >>> P = Packer((torch.zeros(2, 3), torch.zeros(4, dtype=torch.complex128)))
        >>> P.size
        14
        >>> [t.shape for t in P.unflatten(torch.arange(14.0))]
        [torch.Size([2, 3]), torch.Size([4])]
    """

    def __init__(self, X: Point) -> None:
        parts = as_parts(X)
        self.is_tuple = not isinstance(X, Tensor)
        self.shapes = [tuple(t.shape) for t in parts]
        self.complex = [t.is_complex() for t in parts]
        self.sizes = [math.prod(s) * (2 if c else 1) for s, c in zip(self.shapes, self.complex)]
        self.size = sum(self.sizes)
        self.real_dtype = parts[0].real.dtype
        self.device = parts[0].device

    def flatten(self, X: Point) -> Tensor:
        """The real flat vector of a point (a copy only where the parts are not contiguous)."""
        flat = [(torch.view_as_real(t) if t.is_complex() else t).reshape(-1) for t in as_parts(X)]
        return flat[0] if len(flat) == 1 else torch.cat(flat)

    def unflatten(self, x: Tensor) -> Point:
        """The point whose real flat vector is x (views of x, so autograd flows back to x)."""
        parts = []
        for chunk, shape, cplx in zip(x.split(self.sizes), self.shapes, self.complex):
            part = torch.view_as_complex(chunk.view(*shape, 2)) if cplx else chunk.view(shape)
            parts.append(part)
        return from_parts(parts, self.is_tuple)

    def to_numpy(self, x: Tensor) -> np.ndarray:
        """A float64 numpy vector for SciPy (no copy when x is already float64 on the CPU)."""
        x = x.detach()
        if x.dtype != torch.float64 or x.device.type != "cpu":
            x = x.to(device="cpu", dtype=torch.float64)
        return x.numpy()

    def from_numpy(self, x: np.ndarray, dtype: torch.dtype, device: torch.device) -> Tensor:
        """A fresh torch copy of SciPy's vector (SciPy may reuse its buffer)."""
        return torch.tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)
