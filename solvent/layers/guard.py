"""The feasibility guard: after backward, X is put back near its manifold when it has drifted.

Invariants, enforced here:
  * the guard acts once X's gradient for a backward is complete (a
    post-accumulate-grad hook on the Parameter: torch's documented place for
    in-place updates of a parameter during backward), never inside a forward,
    so no autograd graph is invalidated and no other thread's forward sees a
    half-written X;
  * it reuses the A(X) and C(X) of the forward that built the graph (no extra
    map) and costs no host synchronisation on CUDA (``torch.where`` on a
    device-side flag); on the CPU the flag is read, and X is only written when
    it must be;
  * ``keep_feasible=False`` switches it off (the pure penalty method);
  * the same hook drops the penalty's stashed C(X), whose buffers the backward
    through A has freed (Note [penalty reuse] in :mod:`solvent.layers.dissolved`).
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import Tensor, nn

__all__ = ["attach", "note_forward", "threshold"]

# Note [keep feasible]
# ~~~~~~~~~~~~~~~~~~~~
# A(X) is feasible to first order only: ||C(A(X))|| = O(||C(X)||^2) (Stiefel:
# C(A(X)) = -3/4 C^2 + 1/4 C^3 with C = C(X)). The penalty keeps X near M when
# beta is large enough and the penalty is in the loss; otherwise X drifts and
# the module is handed an infeasible weight (measured before the guard:
# Linear(32, 32) on Stiefel, Adam lr 1e-2, 300 steps, ||C(A(X))||: beta 1:
# 4.5e-6; beta 0.01: 2.79; beta 1 with the penalty left out of the loss: 3.34;
# an LSTM(8, 16) without the penalty: 2.4e3).
#
# The guard: after each backward, if ||C(X)|| > tau, X <- A(X) (the forward's
# A, detached). One application contracts the violation quadratically, so X
# stays within about the largest single step's drift of M, and the module sees
# a weight whose violation is O(that drift^2). tau = sqrt(tol), tol the
# manifold's tolerance for one point in X's dtype (100 * n * eps): X within tau
# of M hands the module a weight within about tol. Below tau nothing is
# written, so near M training is the pure dissolving method. The figures with
# the guard are in tests/test_layers_feasible.py and README.md.


def threshold(d, dtype: torch.dtype) -> float:
    """tau = sqrt(tolerance) for the tensor of ``d`` in ``dtype`` (Note [keep feasible])."""
    cache = d.__dict__.setdefault("_thresholds", {})
    tau = cache.get(dtype)
    if tau is None:
        tau = cache[dtype] = math.sqrt(d.tolerance(dtype))
    return tau


def _hookable(X: Tensor) -> bool:
    return (
        isinstance(X, nn.Parameter)
        and X.is_leaf
        and X.requires_grad
        and not hasattr(X, "full_tensor")  # an FSDP2 shard: its gradient arrives reduced
    )


def attach(d, X: Tensor) -> None:
    """Put the guard's hook on the Parameter X (once per Parameter)."""
    hooked = d._hooked
    if (hooked is not None and hooked() is X) or not _hookable(X):
        return
    X.register_post_accumulate_grad_hook(_after_backward_hook(weakref.ref(d)))
    d._hooked = weakref.ref(X)


def note_forward(d, X: Tensor, A: Tensor, C: Tensor) -> None:
    """Called by every grad-mode evaluation: remember A and C for the hook after backward."""
    hooked = d._hooked
    if hooked is None or hooked() is not X:
        attach(d, X)
        hooked = d._hooked
    if d.keep_feasible and hooked is not None and hooked() is X:
        d._pending = (X, X._version, A.detach(), C.detach())


def _after_backward_hook(ref: weakref.ref):
    def hook(X: Tensor) -> None:
        d = ref()
        if d is None:
            return
        d._stash.clear()
        pending, d._pending = d._pending, None
        if not d.keep_feasible or d.deferred:
            return
        if pending is None or pending[0] is not X or pending[1] != X._version:
            with torch.no_grad():  # no usable forward (a compiled one, say): evaluate here
                A, C = d.evaluate(X)
        else:
            A, C = pending[2], pending[3]
        _pull_back(X, A, C, threshold(d, X.dtype))

    return hook


def _pull_back(X: Tensor, A: Tensor, C: Tensor, tau: float) -> None:
    """X <- A where ||C|| > tau: a host branch on the CPU, a device-side select elsewhere."""
    with torch.no_grad():
        v = torch.linalg.vector_norm(C)  # over every point: >= the worst point's
        if X.device.type == "cpu":
            if float(v) > tau:
                X.copy_(A)
        else:
            X.copy_(torch.where(v > tau, A, X))
