"""Small linear-algebra helpers shared by the manifolds: one helper per idea.

* :func:`eye_like` - the identity matching a point (built per call: Note [no tensor cache]);
* :func:`wide` - the float64/complex128 dtype for careful linear algebra;
* :func:`compute_dtype` - float32 for half/bfloat16 (see Note [low precision]);
* :func:`tolerance` - the one feasibility tolerance formula, ``factor * n * eps``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LOW_PRECISION", "compute_dtype", "eye_like", "hermitian_part", "tolerance", "wide"]

LOW_PRECISION = (torch.float16, torch.bfloat16)


def eye_like(X: Tensor, size: int | None = None) -> Tensor:
    """The ``p x p`` identity (``p = X.shape[-1]`` unless ``size``) in X's dtype and device.

    A fresh tensor each call, never a cached one: Note [no tensor cache].

    Example:
        >>> eye_like(torch.zeros(4, 3)).shape
        torch.Size([3, 3])
    """
    p = X.shape[-1] if size is None else size
    return torch.eye(p, dtype=X.dtype, device=X.device)


def tolerance(n: int, dtype: torch.dtype, factor: float = 100.0) -> float:
    """The feasibility tolerance for a point of ``n`` entries: ``factor * max(n, 1) * eps``.

    The one formula behind ``Manifold.default_atol`` and the conformance kit's
    checks; ``eps`` is the machine epsilon of ``dtype`` (of its real part).

    Example:
        >>> tolerance(10, torch.float64) == 1000 * torch.finfo(torch.float64).eps
        True
    """
    return factor * max(int(n), 1) * torch.finfo(dtype).eps


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


# Note [no tensor cache]
# ~~~~~~~~~~~~~~~~~~~~~~~
# The identity used to be cached process-wide (an lru_cache keyed on size,
# dtype and device). A tensor created while a torch.func transform is active
# and kept beyond it is a captured tensor: the next transform that met it
# failed with "level <= current_level INTERNAL ASSERT", so jvp or hessian of a
# map passed or failed depending on what ran before it in the process. The
# helpers here therefore build what they return on every call. torch.eye costs
# about 3.5 us; on the Stiefel map's step (forward, penalty, backward, float32,
# one thread) fresh / cached measured 1.06x at 16 x 16 (three runs), 1.02-1.05x
# at 150 x 150 and <= 1.02x at 256 x 256 and 1024 x 256 (benchmarks/
# bench_eye_cache.py --reps 300, both interleaved in one process).

# Note [low precision]
# ~~~~~~~~~~~~~~~~~~~~
# CPU torch has no half/bfloat16 SVD, QR or eigh, and even where it has, a
# 10-bit mantissa cannot hold an orthonormal frame to better than ~1e-3.
# Manifold.project and Manifold.random therefore run the linear algebra in
# float32 and cast the result back: the point is then as feasible as the dtype
# can represent. The maps (dissolve, constraint) stay in the point's dtype;
# they are plain matrix products that every backend has.
