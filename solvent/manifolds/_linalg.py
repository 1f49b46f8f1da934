"""Small linear-algebra helpers shared by the manifolds: one helper per idea.

* :func:`eye_like` - the identity matching a point, cached (no allocation per call);
* :func:`wide` - the float64/complex128 dtype for careful linear algebra;
* :func:`compute_dtype` - float32 for half/bfloat16 (see Note [low precision]).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

__all__ = ["LOW_PRECISION", "compute_dtype", "eye_like", "hermitian_part", "wide"]

LOW_PRECISION = (torch.float16, torch.bfloat16)


@functools.lru_cache(maxsize=64)
def _eye(p: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.eye(p, dtype=dtype, device=device)


def eye_like(X: Tensor, size: int | None = None) -> Tensor:
    """The ``p x p`` identity (``p = X.shape[-1]`` unless ``size``) in X's dtype and device.

    Cached per (size, dtype, device): a training step does not allocate it.
    The cached tensor is a constant: never modify it in place.

    Example:
        >>> eye_like(torch.zeros(4, 3)).shape
        torch.Size([3, 3])
    """
    p = X.shape[-1] if size is None else size
    if torch.compiler.is_compiling():  # a traced graph builds its own constant
        return torch.eye(p, dtype=X.dtype, device=X.device)
    return _eye(p, X.dtype, X.device)


def wide(dtype: torch.dtype) -> torch.dtype:
    """float64 (complex128 for complex dtypes): where careful linear algebra runs.

    Example:
        >>> wide(torch.complex64)
        torch.complex128
    """
    return torch.complex128 if dtype.is_complex else torch.float64


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype projections and sampling run in: float32 for half/bfloat16, else ``dtype``.

    Example:
        >>> compute_dtype(torch.bfloat16)
        torch.float32
    """
    return torch.float32 if dtype in LOW_PRECISION else dtype


def hermitian_part(S: Tensor) -> Tensor:
    """(S + S^H) / 2.

    Example:
        >>> hermitian_part(torch.tensor([[0.0, 2.0], [0.0, 0.0]]))
        tensor([[0., 1.],
                [1., 0.]])
    """
    return 0.5 * (S + S.mH)


# Note [low precision]
# ~~~~~~~~~~~~~~~~~~~~
# CPU torch has no half/bfloat16 SVD, QR or eigh, and even where it has, a
# 10-bit mantissa cannot hold an orthonormal frame to better than ~1e-3.
# Manifold.project and Manifold.random therefore run the linear algebra in
# float32 and cast the result back: the point is then as feasible as the dtype
# can represent. The maps (dissolve, constraint) stay in the point's dtype;
# they are plain matrix products that every backend has.
