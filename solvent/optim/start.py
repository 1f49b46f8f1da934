"""The starting point of a solve: a given x0 checked and projected, or a random point."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from solvent._points import Point, join
from solvent.exceptions import SolverOptionError
from solvent.manifolds.base import Manifold

__all__ = ["start_point"]

_COMPLEX = {torch.float64: torch.complex128, torch.float32: torch.complex64}


def start_point(
    M: Manifold,
    x0: object,
    shape: int | Sequence | None,
    dtype: torch.dtype,
    device: torch.device | str | None,
    generator: torch.Generator | None,
) -> Point:
    """A feasible starting point in ``dtype``: ``project(x0)``, or ``M.random(*shape)``."""
    if x0 is None:
        if shape is None:
            raise SolverOptionError(
                "give a starting point x0, or shape= (e.g. shape=(n, p)) for a random one"
            )
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        try:
            return M.random(*shape, dtype=dtype, device=device, generator=generator)
        except ValueError as err:
            raise SolverOptionError(f"shape={shape} does not fit {M.name}: {err}") from err
    X = _as_point(x0, dtype, device)
    if shape is not None and isinstance(X, Tensor):
        want = (shape,) if isinstance(shape, int) else tuple(shape)
        if tuple(X.shape) != want:
            raise SolverOptionError(f"x0 has shape {tuple(X.shape)} but shape={want} was given")
    try:
        M.validate(X)
    except ValueError as err:
        raise SolverOptionError(f"x0 is not a point of {M.name}: {err}") from err
    return M.project(X)


def _as_point(x0: object, dtype: torch.dtype, device) -> Point:
    is_tuple = isinstance(x0, (tuple, list))
    parts = list(x0) if is_tuple else [x0]
    out = []
    for t in parts:
        if isinstance(t, np.ndarray):
            t = torch.from_numpy(t)
        if not isinstance(t, Tensor):
            raise SolverOptionError(
                "x0 must be a torch.Tensor (or a tuple of tensors for a product manifold), "
                f"got {type(t).__name__}"
            )
        target = _COMPLEX.get(dtype, dtype) if t.is_complex() else dtype
        out.append(t.detach().to(device=device if device is not None else t.device, dtype=target))
    return join(out, is_tuple)
