"""How a constrained module is handed A(X): per-thread forward frames and the ``cached()`` scope.

Invariants, enforced here:
  * everything one forward computes (A(X) for each constrained name) lives in a
    *frame* that belongs to the calling thread; the module itself is never
    written to by a forward, so several threads may run one module at once
    and each sees only its own A(X) (Note [frames]);
  * inside a forward of the module, ``module.name`` is that forward's A(X);
    outside one it is A(X) evaluated afresh (once per scope inside
    :func:`cached`);
  * every evaluation goes through :func:`dissolve`, which stashes C(X) for the
    penalty and hands the feasibility guard what it needs: one code path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from solvent.exceptions import ConstraintError
from solvent.layers.dissolved import Dissolved
from solvent.layers.guard import note_forward, settle

__all__ = ["ATTR", "cached", "dissolve", "frame_of", "raw_view", "read", "run_forward"]

ATTR = "_solvent_dissolved"  # module.__dict__[ATTR]: {parameter name: Dissolved}

# Note [frames]
# ~~~~~~~~~~~~~
# A frame is a dict {name: A(X)} pushed when a constrained module's forward
# starts and popped when it ends (try/finally: also when it raises). Frames
# live in a threading.local, keyed by id(module), as a stack: a module whose
# forward calls itself (a recursive tree network) gets a frame per call.
# Another thread sees none of them: it computes its own. torch's own
# parametrize keeps its cache on the module, where another thread would read
# it; that is the difference that makes a shared model safe to serve from
# several threads.


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.frames: dict[int, list[dict[str, Tensor]]] = {}
        self.cache: dict[int, tuple] | None = None  # id(Dissolved) -> (X, version, grad, A)


_here = _PerThread()


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Evaluate each constrained weight's map once inside the scope, and reuse it.

    A parent that reads ``child.weight`` at every time step of a hand-written
    recurrence (or calls a constrained child once per step) then pays one map
    per sequence instead of one per step, as torch's ``parametrize.cached()``
    does for parametrizations. The cache belongs to the calling thread and is
    dropped when the scope ends; an in-place change of X (an optimizer step)
    inside the scope is noticed (X's version counter) and A(X) recomputed.

    Example:
        >>> import torch, solvent
        >>> cell = solvent.constrain(torch.nn.Linear(4, 4, bias=False))
        >>> h = torch.randn(2, 4)
        >>> with solvent.cached():
        ...     for _ in range(3):
        ...         h = torch.tanh(h @ cell.weight.T)  # one map for the three reads
        >>> h.shape
        torch.Size([2, 4])
    """
    outer = _here.cache
    if outer is None:
        _here.cache = {}
    try:
        yield
    finally:
        if outer is None:
            _here.cache = None


def dissolve(d: Dissolved, X: Tensor, guard: bool = True) -> Tensor:
    """A(X) for the stored tensor X: the one place a constrained module's map is evaluated.

    ``guard=False`` (a module sharded by FSDP2, whose X is a gathered copy that
    FSDP2 reshards after backward) leaves the feasibility guard out.
    """
    cache = _here.cache
    grad = torch.is_grad_enabled()
    if cache is not None:
        hit = cache.get(id(d))
        if hit is not None and hit[0] is X and hit[1] == X._version and hit[2] == grad:
            return hit[3]
    A, C = d.evaluate(X)
    if not torch.compiler.is_compiling():  # a traced graph stays pure
        guard = guard and d.keep_feasible and isinstance(X, nn.Parameter)  # not functional_call's
        if grad or guard:
            P = d.manifold.penalty_from_constraint(C)  # 1/2 ||C||^2: the penalty, and the flag
            flag = None
            if guard:
                A, flag = settle(d, X, A, P)
            if grad:  # a no-grad forward (inference) keeps nothing for the penalty
                d.stash(X, P)
                if A.requires_grad:
                    note_forward(d, X, A, flag)
    if cache is not None:
        cache[id(d)] = (X, X._version, grad, A)
    return A


def _stored(module: nn.Module, name: str) -> Tensor:
    """X, the Parameter stored under the constrained name ``name`` (never None)."""
    X = module._parameters[name]
    if X is None:
        raise ConstraintError(
            f"{type(module).__name__}.{name} is constrained but its stored parameter is None"
        )
    return X


def frame_of(module: nn.Module) -> dict[str, Tensor] | None:
    """The calling thread's innermost forward frame of ``module``, or None outside its forward."""
    stack = _here.frames.get(id(module))
    return stack[-1] if stack else None


def read(module: nn.Module, name: str) -> Tensor:
    """What ``module.name`` returns for a constrained name (the class's property)."""
    stack = _here.frames.get(id(module))
    if stack:
        A = stack[-1].get(name)
        if A is not None:
            return A
    X = _stored(module, name)
    d = module.__dict__[ATTR][name]
    if d.deferred or hasattr(X, "full_tensor"):
        # deferred: X is raw storage waiting for its initialisation (Note [deferred]);
        # a shard owned by FSDP2 outside a forward: FSDP2 reads its own Parameter
        return X
    return dissolve(d, X)


def run_forward(module: nn.Module, forward, args: tuple, kwargs: dict):
    """Run the base class's forward with this thread's frame of A(X) pushed."""
    table = module.__dict__[ATTR]
    guard = not _sharded(type(module))
    frame = {}
    for name, d in table.items():
        if d.deferred:
            raise _deferred_error(module, name)
        frame[name] = dissolve(d, _stored(module, name), guard)
    stack = _here.frames.setdefault(id(module), [])
    stack.append(frame)
    try:
        return forward(module, *args, **kwargs)
    finally:
        stack.pop()
        if not stack:
            del _here.frames[id(module)]


_SHARDED: dict[type, bool] = {}


def _sharded(cls: type) -> bool:
    """Whether FSDP2's ``fully_shard`` made ``cls`` (it subclasses the module's class)."""
    known = _SHARDED.get(cls)
    if known is None:
        known = _SHARDED[cls] = any(
            c.__name__ == "FSDPModule" and c.__module__.startswith("torch.distributed")
            for c in cls.__mro__
        )
    return known


@contextlib.contextmanager
def raw_view(module: nn.Module) -> Iterator[None]:
    """Inside the scope the module's frame is hidden: its weights read as stored (X)."""
    stack = _here.frames.setdefault(id(module), [])
    stack.append({})
    try:
        yield
    finally:
        stack.pop()
        if not stack:
            del _here.frames[id(module)]


def _deferred_error(module: nn.Module, name: str) -> ConstraintError:
    return ConstraintError(
        f"{type(module).__name__}.{name} was constrained on the meta device and has not been "
        "put on its manifold yet: after module.to_empty(device=...) and initialising the "
        "weights, call solvent.project_(model)"
    )
