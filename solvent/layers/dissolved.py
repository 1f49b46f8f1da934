"""The constraint on one tensor: manifold, shape view, beta, and the maths ``Z -> A(Z)``.

A :class:`Dissolved` knows nothing about modules. It converts between the
three layouts a constrained tensor has (Note [three layouts]) and holds the
few pieces of state that outlive one forward: the penalty's C(X) from the
latest forward of each thread (Note [penalty reuse]) and what the feasibility
guard needs after backward (:mod:`solvent.layers.guard`).
"""

from __future__ import annotations

import threading
import weakref
from typing import cast

import torch
from torch import Tensor

from solvent.exceptions import NonFiniteError
from solvent.layers.guard import settle
from solvent.layers.shapes import MatrixView
from solvent.manifolds.base import Manifold

__all__ = ["Dissolved", "full"]

# Note [three layouts]
# ~~~~~~~~~~~~~~~~~~~~
# * the *weight*: the tensor the module reads, in the parameter's own shape
#   (out, in, *k); the MatrixView turns it into manifold points (gate blocks,
#   transposed) and back;
# * the *point*: the manifold's layout of the weight, ``view.to_points(W)``;
# * the *stored* tensor: the Parameter in ``module._parameters[name]``, the free
#   variable Z. When ``M.free_shape(point shape)`` is the point shape (every
#   equality manifold, and charts such as a positive X = exp(Z)) Z is stored in
#   the weight's layout, so state_dict keys and shapes are those of the plain
#   module and optimizers see an ordinary Parameter of the weight's shape. A
#   chart whose free variable has another shape (X = Y Y^T, Y n x k) stores Z
#   in its own shape.
#
# Note [penalty reuse]
# ~~~~~~~~~~~~~~~~~~~~
# The forward computes C(Z) with A(Z) (they share X^T X on Stiefel), and from
# it 1/2 ||C||^2, which the feasibility guard reads as its flag.
# ``solvent.penalty`` reuses that value once, when it is still valid: same tensor Z,
# same version counter (no optimizer step since), same grad mode (a no_grad
# forward stashed a C without a graph), same thread (two threads' forwards do
# not hand each other their graphs). Backward through A frees the buffers C
# shares with it, so the guard's post-accumulate-grad hook, which runs once X's
# gradient is complete, drops the stash; the penalty then recomputes C.


def full(X: Tensor) -> Tensor:
    """A sharded (FSDP2 DTensor) tensor gathered whole; any other tensor as it is."""
    return X.full_tensor() if hasattr(X, "full_tensor") else X


class Dissolved:
    """The constraint on one parameter: manifold, matrix view, beta, and the map ``Z -> A(Z)``.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.constrain(torch.nn.Linear(3, 5), beta=0.5)
        >>> d = solvent.layers.dissolved_of(lin)["weight"]
        >>> (d.manifold.name, d.view.point_shape, d.beta, d.keep_feasible)
        ('stiefel', (5, 3), 0.5, True)
    """

    def __init__(
        self, manifold: Manifold, view: MatrixView, beta: float, keep_feasible: bool = True
    ) -> None:
        self.manifold, self.view, self.beta = manifold, view, float(beta)
        self.keep_feasible = bool(keep_feasible) and manifold.kind == "equality"
        self.free_shape = tuple(manifold.free_shape(view.point_shape))
        self.own_shape = self.free_shape != tuple(view.point_shape)
        self.deferred = False  # constrained on the meta device, not yet projected
        self._reset_transient()

    def _reset_transient(self) -> None:
        self._stash: dict[int, tuple] = {}  # thread id -> (Z, Z._version, grad mode, penalty)
        self._pending: tuple | str | None = "unseen"  # (Z, version, A, flag) for the guard
        # weakref to the Parameter the guard's hook is on
        self._hooked: weakref.ReferenceType[Tensor] | None = None

    # ------------------------------------------------------------------ layouts
    def free(self, S: Tensor) -> Tensor:
        """The stored tensor as the manifold's free variable Z."""
        return S if self.own_shape else self.view.to_points(S)

    def store(self, Z: Tensor) -> Tensor:
        """The free variable Z in the stored layout (inverse of :meth:`free`)."""
        return Z if self.own_shape else self.view.from_points(Z)

    # ------------------------------------------------------------------ maths
    def evaluate(self, S: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(Z), C(Z))`` for the stored tensor S: A in the weight's shape, C the manifold's."""
        A, C = self.manifold._dissolve_with_constraint(self.free(S))
        return self.view.from_points(A), C

    def weight(self, S: Tensor) -> Tensor:
        """The weight a module is handed for the stored tensor S: A(Z), settled by the guard.

        With ``keep_feasible`` and S drifted past the guard's threshold, the map
        is iterated (Note [keep feasible] in solvent.layers.guard); else A(Z).
        """
        A, C = self.evaluate(S)
        if not self.keep_feasible:
            return A
        return settle(self, S, A, self.manifold.penalty_from_constraint(C))[0]

    def stash(self, S: Tensor, P: Tensor) -> None:
        """Keep the forward's 1/2 ||C(Z)||^2 for this thread's next penalty.

        See Note [penalty reuse].
        """
        self._stash[threading.get_ident()] = (S, S._version, torch.is_grad_enabled(), P)

    def penalty(self, S: Tensor) -> Tensor:
        """1/2 ||C(Z)||^2, reusing this thread's forward value when valid."""
        stash = self._stash.pop(threading.get_ident(), None)
        if (
            stash is not None
            and stash[0] is S
            and stash[1] == S._version
            and stash[2] == torch.is_grad_enabled()
        ):
            return stash[3]
        return self.manifold._penalty(self.free(full(S)))

    def point(self, S: Tensor) -> Tensor:
        """The point the stored tensor stands for, in the manifold's layout.

        Equality kind: X itself (the free variable is a point of the ambient
        space, and ``A(X) = X`` on M). Chart kind: ``A(Z)``, always on M.
        """
        S = full(S)
        if self.manifold.kind == "equality":
            return self.view.to_points(S)
        return self.manifold._dissolve(self.free(S))

    def violation(self, S: Tensor) -> float:
        """The worst ||C(X)||_F over the tensor's points (gate blocks)."""
        with torch.no_grad():
            v = self.manifold._violation(self.point(S))
            return float(v.max()) if v.numel() else 0.0

    def tolerance(self, dtype: torch.dtype) -> float:
        """The manifold's feasibility tolerance for one point of this tensor in ``dtype``."""
        probe = torch.empty(self.view.point_shape, dtype=dtype, device="meta")
        return self.manifold.default_atol(probe)

    def lift_weight(self, W: Tensor, where: str) -> Tensor:
        """The stored tensor for a weight W: ``store(lift(project(W)))``; W must be finite.

        Half and bfloat16 weights are projected in float32 (the manifold does it).
        """
        bad = int((~torch.isfinite(W)).sum())
        if bad:
            raise NonFiniteError(where, bad, W.numel())
        M = self.manifold
        P = M.project(self.view.to_points(W))
        return self.store(P if M.kind == "equality" else M.lift(P))

    def project_(self, S: Tensor, where: str) -> None:
        """Snap the stored tensor in place onto the manifold (a deferred one is initialised).

        A tensor sharded by FSDP2 (a DTensor) is gathered, projected whole, and
        put back with its own placements (every rank computes the same point).
        """
        with torch.no_grad():
            whole = full(S)
            chart = self.manifold.kind != "equality" and not self.deferred
            W = self.evaluate(whole)[0] if chart else whole  # the weight S stands for
            P = self.lift_weight(W, where)
            if whole is not S:
                from torch.distributed.tensor import DTensor, distribute_tensor

                shard = cast(DTensor, S)  # full() gathered it: a DTensor
                P = distribute_tensor(P, shard.device_mesh, shard.placements)
            S.copy_(P)
        self.deferred = False

    # ------------------------------------------------------------------ copies
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in ("_stash", "_pending", "_hooked", "_late", "_late_seen"):
            state.pop(key, None)  # per-process, per-step state of the forward and the guard
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset_transient()

    def __repr__(self) -> str:
        return (
            f"Dissolved(manifold={self.manifold.name}, beta={self.beta}, "
            f"view={self.view.describe()}, keep_feasible={self.keep_feasible})"
        )

