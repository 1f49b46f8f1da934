"""The shape policy, in one place: how a module's parameter becomes manifold points.

Invariants (checked by :func:`matrix_view`, which every constraint goes through):
  * for a matrix manifold (``ndim == 2``) a weight ``(out, in, *k)`` is viewed as
    the matrix ``(out, in * prod(k))``; a vector ``(n,)`` is refused unless
    ``transpose`` says how to see it (``False``: the column ``(n, 1)``, ``True``: the
    row ``(1, n)``); for a vector manifold (``ndim == 1``: sphere, euclidean) the
    whole weight, flattened, is one point; other ``ndim`` see the weight as it is;
  * stacked 2-D gate weights (LSTM ``4h x k``, GRU ``3h x k``, the q/k/v blocks of
    MultiheadAttention's ``in_proj_weight``) become a batch of gate blocks, each
    block one point; the gate count comes from :data:`GATES`, a table by module
    class and parameter name, never from the manifold (a first dimension that the
    count does not divide is one block);
  * a matrix that the manifold rejects but whose transpose it takes (a wide weight
    for Stiefel) is constrained through its transpose (``transpose=None``);
    ``transpose=True/False`` forces the choice;
  * the final view is always checked with ``manifold.check_shape``: a shape the
    manifold cannot take raises :class:`ConstraintShapeError`, never silently
    builds an infeasible constraint.
"""

from __future__ import annotations

import dataclasses
import math
import re

from torch import Tensor, nn

from solvent.exceptions import ConstraintShapeError
from solvent.manifolds.base import Manifold

__all__ = ["GATES", "MatrixView", "gate_count", "matrix_view"]

# (module class, parameter-name pattern, number of stacked gate blocks).
GATES: tuple[tuple[type[nn.Module], str, int], ...] = (
    (nn.LSTM, r"weight_(ih|hh)_l\d+(_reverse)?", 4),
    (nn.GRU, r"weight_(ih|hh)_l\d+(_reverse)?", 3),
    (nn.LSTMCell, r"weight_(ih|hh)", 4),
    (nn.GRUCell, r"weight_(ih|hh)", 3),
    (nn.MultiheadAttention, r"in_proj_weight", 3),
)


def gate_count(module: nn.Module, name: str) -> int:
    """How many stacked gate blocks the parameter ``name`` of ``module`` holds (1: none)."""
    for cls, pattern, gates in GATES:
        if isinstance(module, cls) and re.fullmatch(pattern, name):
            return gates
    return 1


@dataclasses.dataclass(frozen=True)
class MatrixView:
    """How a parameter of ``shape`` is seen: ``gates`` blocks of ``point``, maybe transposed.

    Example:
        >>> import torch
        >>> v = MatrixView(shape=(8, 64, 1, 1), gates=1, point=(8, 64), transpose=True)
        >>> v.to_points(torch.zeros(8, 64, 1, 1)).shape
        torch.Size([64, 8])
    """

    shape: tuple[int, ...]
    gates: int
    point: tuple[int, ...]
    transpose: bool

    @property
    def point_shape(self) -> tuple[int, ...]:
        """The shape the manifold sees (gate blocks are a leading batch dimension)."""
        point = self.point[::-1] if self.transpose else self.point
        return ((self.gates,) if self.gates > 1 else ()) + point

    def to_points(self, W: Tensor) -> Tensor:
        """The parameter tensor as the manifold's points (a view where possible)."""
        if self.gates == 1 and not self.transpose and W.shape == self.point:
            return W  # the common case: the weight is the point
        Y = W.reshape(((self.gates,) if self.gates > 1 else ()) + self.point)
        return Y.mT if self.transpose else Y

    def from_points(self, Y: Tensor) -> Tensor:
        """Inverse of :meth:`to_points`: the manifold's points back in the parameter's shape."""
        if self.gates == 1 and not self.transpose and Y.shape == self.shape:
            return Y
        return (Y.mT if self.transpose else Y).reshape(self.shape)

    def describe(self) -> str:
        """A short human description, e.g. ``'(8, 64, 1, 1) seen as 64x8 (transposed)'``."""
        how = ", transposed" if self.transpose else ""
        gates = f"{self.gates} gate blocks of " if self.gates > 1 else ""
        point = "x".join(map(str, self.point_shape[1 if self.gates > 1 else 0 :]))
        return f"{self.shape} seen as {gates}{point}{how}"


def _accepts(M: Manifold, shape: tuple[int, ...]) -> str | None:
    """None if M takes ``shape``, else the manifold's reason."""
    try:
        M.check_shape(shape)
    except ValueError as err:
        return str(err)
    return None


def _candidates(
    shape: tuple[int, ...], gates: int, ndim: int, transpose: bool | None
) -> list[MatrixView]:
    """The views to try, in order of preference, for a manifold of ``ndim`` trailing dims."""
    block = (shape[0] // gates,) + shape[1:]
    points: list[tuple[int, ...]]
    if ndim == 1:  # vector manifolds: the whole block is one point
        points = [(math.prod(block),)]
    elif ndim == 2:  # (out, in, *k) -> (out, in * prod(k)); a vector -> a column
        points = [(block[0], math.prod(block[1:]))]
    else:
        points = [block]
    flips = [False, True] if transpose is None else [bool(transpose)]
    return [
        MatrixView(shape, gates, point, t)
        for point in points
        for t in (flips if len(point) == 2 else [False])
    ]


def matrix_view(
    module: nn.Module, name: str, shape: tuple[int, ...], M: Manifold, transpose: bool | None = None
) -> MatrixView:
    """Apply the shape policy to parameter ``name`` (of ``shape``) of ``module`` for manifold M.

    Raises:
        ConstraintShapeError: the manifold cannot take the parameter even after the policy.

    Example:
        >>> import solvent
        >>> conv = nn.Conv2d(64, 8, 1)
        >>> matrix_view(conv, "weight", (8, 64, 1, 1), solvent.manifold("stiefel")).point_shape
        (64, 8)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1 and M.ndim == 2 and transpose is None:
        raise ConstraintShapeError(
            f"{type(module).__name__}.{name}",
            shape,
            M.name,
            f"a vector is not a matrix, and {M.name} constrains matrices; use a vector manifold "
            '(e.g. "sphere" for a unit-norm vector), or pass transpose=False to constrain it as '
            "an n x 1 column (transpose=True: a 1 x n row)",
        )
    gates = gate_count(module, name) if len(shape) == 2 else 1
    if not shape or shape[0] % gates:
        gates = 1  # not a stacked parameter after all (a custom subclass): one block
    reasons = []
    for view in _candidates(shape, gates, M.ndim, transpose) if shape else []:
        reason = _accepts(M, view.point_shape)
        if reason is None:
            return view
        reasons.append(reason)
    why = "; ".join(dict.fromkeys(reasons)) or "a scalar has no matrix view"
    raise ConstraintShapeError(f"{type(module).__name__}.{name}", shape, M.name, why)
