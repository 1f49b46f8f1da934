"""The feasibility guard: the weight a module is handed stays on its manifold, X stays near it.

Invariants, enforced here (Note [keep feasible]):
  * in the forward, the weight handed to the module is within the manifold's
    tolerance: when X has drifted past tau, the map is iterated on its own
    output (differentiably) until it is; the flag is 1/2 ||C(X)||^2, which the
    forward computes for the penalty anyway;
  * X itself is only written after backward, once its gradient is complete (a
    post-accumulate-grad hook on the Parameter: torch's documented place for
    in-place updates during backward), never inside a forward, so no graph of
    a running forward is invalidated and no other thread's forward sees a
    half-written X; it is set to the weight the module was handed (no extra
    map);
  * no host synchronisation on CUDA: the forward reads the latest flag whose
    copy to the host has landed, the hook selects on the device
    (``torch.where``); on the CPU the flag is read directly and X is written
    only when it must be;
  * ``keep_feasible=False`` switches it off (the pure penalty method);
  * the same hook drops the penalty value stashed by the forward, whose graph
    the backward through A has freed (Note [penalty reuse] in
    :mod:`solvent.layers.dissolved`).
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from solvent.manifolds._linalg import tolerance

if TYPE_CHECKING:  # the guard reads a Dissolved's state; dissolved.py imports this file
    from solvent.layers.dissolved import Dissolved

__all__ = ["MAX_SETTLE", "UNSEEN", "attach", "bound", "note_forward", "settle", "threshold"]

# Note [keep feasible]
# ~~~~~~~~~~~~~~~~~~~~
# A(X) is feasible to first order only: ||C(A(X))|| = O(||C(X)||^2) (Stiefel:
# C(A(X)) = -3/4 C^2 + 1/4 C^3 with C = C(X)). The penalty keeps X near M when
# beta is large enough and the penalty is in the loss; otherwise X drifts and
# the module is handed an infeasible weight (benchmarks/feasibility_runs.py,
# 5 seeds: Linear(32, 32) on Stiefel, Adam lr 1e-2, 300 steps, ||C|| of the
# weight seen at the end: beta 0.01: 2.96; beta 1 with the penalty left out
# of the loss: 4.09; an LSTM(8, 16) without the penalty: 1.9e3. With the
# guard: 0.0019, 0.0018, 8.2e-5, every forward within tol).
#
# Correcting X after backward alone is not enough: the optimizer's next step
# moves X again (Adam: about lr per entry, ||C|| ~ 0.3-0.6 at 32 x 32, lr 1e-2),
# and a weight handed over right after it is off by O(that^2) (measured: 0.25
# at the end of the runs above even with X projected exactly after every
# backward). So the guard works at both ends of the step:
#
# * in the forward (``settle``): ||C(X)|| is already computed; when it passes
#   tau = sqrt(tol) the map is applied again, differentiably, to its own
#   output until the last input's ||C|| <= tau, so the module sees a weight
#   within about tol (3/4 tau^2). From ||C|| = 0.5: 0.19, 0.027, 5e-4: three
#   extra maps, only on the steps that need them. The gradient is that of
#   f(A(...A(X))), a composition of dissolving maps (the identity on M, a
#   projection onto the tangent space there), so it is a dissolving map too.
# * after backward (the hook): X <- the weight the module saw (detached),
#   so the next step starts on M and the extra maps stay rare.
#
# tol = 100 eps min(n, 256 sqrt(n)) for a point of n entries, at float32
# precision at least (float64 weights trained by a first-order optimizer are
# not on M to 1e-13; half and bfloat16 use their own eps): the manifold's own
# tolerance, 100 n eps, up to 256 x 256 entries (0.012 for a 32 x 32 weight,
# tau 0.11), then growing like sqrt(n) only (3.1 at 1024 x 1024 instead of
# 12.5, which would let a large weight drift to ||C|| ~ 3.5 unguarded). Not
# tighter: Adam at lr 1e-3 keeps ||C(X)|| at 0.16-0.45 in ordinary training
# with the penalty (RNN 150, beta 0.2, the tutorial's setting; RNN 64 and 256,
# beta 0.1), so a bound of 100 sqrt(n) eps (tau 0.04 at 150) fires on every
# step and turns the penalty method into a projection per step, twice the
# map's cost. The map's rounding floor is far below either (float32 Stiefel,
# ||C|| after six maps: 7.6e-7 at 32 x 32, 8.0e-6 at 1024 x 1024). Below tau nothing
# changes: near M training is the pure dissolving method, one map per forward.
# On the CPU the flag is read directly (a host-side float of a CPU tensor); on
# CUDA reading it would synchronise, so the forward uses the latest flag whose
# copy to the host has landed (one or two steps late, never a wait) and the
# hook selects on the device.
#
# What the reset costs a user: X changes during backward (torch's documented
# place for it, as optimizer-in-backward does), so a second backward through a
# graph kept with retain_graph=True after a reset raises torch's in-place
# error, and gradient accumulation over micro-batches sees the reset X from the
# second micro-batch on. Both happen only on steps where X had drifted past tau;
# keep_feasible=False avoids them.
MAX_SETTLE = 4
UNSEEN = "unseen"  # d._pending before any eager grad-mode forward since the last backward


def bound(d: Dissolved, dtype: torch.dtype) -> float:
    """tol, the guard's bound on ||C|| of the weight handed over (Note [keep feasible]).

    ``100 eps min(n, 256 sqrt(n))`` for a point of n entries, eps that of
    ``dtype`` but at float32 precision at least.
    """
    wide = torch.finfo(dtype).eps < torch.finfo(torch.float32).eps
    n = max(math.prod(d.view.point_shape), 1)
    factor = 100.0 * min(n, 256 * math.sqrt(n))
    return tolerance(1, torch.float32 if wide else dtype, factor=factor)


def threshold(d: Dissolved, dtype: torch.dtype) -> float:
    """tau = sqrt(tol) for the tensor of ``d`` in ``dtype`` (Note [keep feasible])."""
    cache = d.__dict__.setdefault("_thresholds", {})
    tau = cache.get(dtype)
    if tau is None:
        tau = cache[dtype] = math.sqrt(bound(d, dtype))
    return tau


def settle(d: Dissolved, X: Tensor, A: Tensor, P: Tensor) -> tuple[Tensor, object]:
    """``(weight handed to the module, flag)``: A, or the map iterated on A if X has drifted.

    P is 1/2 ||C(X)||^2, which the forward computes for the penalty anyway, so
    the check costs one comparison (and, on the CPU, reading one number).

    The flag is what the hook after backward needs: None (X is near M: nothing
    to do), True (reset X to the weight handed over), "project" (a drift the
    iteration could not undo in MAX_SETTLE maps: the map contracts only near M,
    Stiefel needs singular values below sqrt(3); X is projected), or, on CUDA,
    the device-side flag itself.
    """
    tau = threshold(d, X.dtype)
    if not _on_host(X):
        flag = P.detach() > 0.5 * tau * tau
        if _late_flag(d, flag):
            for _ in range(MAX_SETTLE):
                A, C = d.evaluate(A)
        return A, flag
    if float(P.detach()) <= 0.5 * tau * tau:
        return A, None
    for _ in range(MAX_SETTLE):
        A, C = d.evaluate(A)
        if float(torch.linalg.vector_norm(C.detach())) <= tau:
            return A, True
    return A, "project"


def _on_host(X: Tensor) -> bool:
    """Whether reading a flag computed from X costs no synchronisation (a CPU tensor)."""
    return X.device.type == "cpu"


def _late_flag(d: Dissolved, flag: Tensor) -> bool:
    """The latest device-side flag whose copy to the host has completed; never waits."""
    late = d.__dict__.get("_late")
    if late is not None and late[1].query():
        d.__dict__["_late_seen"] = bool(late[0])
        late = None
    if late is None and flag.is_cuda:
        host = torch.empty((), dtype=torch.bool, pin_memory=True)
        host.copy_(flag, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        d.__dict__["_late"] = (host, event)
    elif late is None:
        d.__dict__.pop("_late", None)
    return d.__dict__.get("_late_seen", False)


def _hookable(X: Tensor) -> bool:
    return (
        isinstance(X, nn.Parameter)
        and X.is_leaf
        and X.requires_grad
        and not hasattr(X, "full_tensor")  # an FSDP2 shard: its gradient arrives reduced
    )


def attach(d: Dissolved, X: Tensor) -> None:
    """Put the guard's hook on the Parameter X (once per Parameter)."""
    hooked = d._hooked
    if (hooked is not None and hooked() is X) or not _hookable(X):
        return
    X.register_post_accumulate_grad_hook(_after_backward_hook(weakref.ref(d)))
    d._hooked = weakref.ref(X)


def note_forward(d: Dissolved, X: Tensor, A: Tensor, flag) -> None:
    """Called by every grad-mode evaluation with :func:`settle`'s flag: what the hook will need."""
    hooked = d._hooked
    if hooked is None or hooked() is not X:
        attach(d, X)
        hooked = d._hooked
    if flag is not None and hooked is not None and hooked() is X:
        d._pending = (X, X._version, A.detach(), flag)  # A: the weight handed over
    else:
        d._pending = None


def _after_backward_hook(ref: weakref.ref):
    def hook(X: Tensor) -> None:
        d = ref()
        if d is None:
            return
        d._stash.clear()
        pending, d._pending = d._pending, UNSEEN
        if not d.keep_feasible or d.deferred:
            return
        if pending is UNSEEN:  # no eager forward noted (a compiled one): check here
            with torch.no_grad():
                A, C = d.evaluate(X)
                P = d.manifold.penalty_from_constraint(C)
                pending = (X, X._version, *settle(d, X, A, P))
        if pending is None or pending[3] is None:
            return  # near M: the common case
        if pending[0] is not X or pending[1] != X._version:
            return  # X changed since that forward: its A is stale
        _reset(d, X, pending[2], pending[3])

    return hook


def _reset(d: Dissolved, X: Tensor, A: Tensor, flag) -> None:
    """X <- A (the weight handed over), or X projected; on CUDA selected on the device."""
    with torch.no_grad():
        if isinstance(flag, Tensor):
            X.copy_(torch.where(flag, A, X))
        elif flag == "project":
            d.project_(X, "solvent's feasibility guard")
        else:
            X.copy_(A)
