"""The parametrization ``X -> A(X)`` and the plumbing that makes it cheap and safe.

Invariants, enforced here:
  * the stored tensor (the parametrization's ``original``) is the free variable
    X; the module sees ``A(X)``. ``right_inverse`` projects a weight onto the
    manifold, so assigning ``module.weight = W`` stores a feasible X.
  * A(X) is evaluated once per forward of the constrained module, see
    Note [once per forward].
  * the penalty reuses the C(X) that the forward computed together with A(X)
    when it is still valid, see Note [penalty reuse].
  * nothing transient (a cached A, a stashed C, an autograd graph) survives a
    copy, a pickle or the end of a forward.
"""

from __future__ import annotations

import copy
import functools
import weakref

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from solvent.layers.shapes import MatrixView
from solvent.manifolds.base import Manifold

__all__ = ["Dissolved", "dissolved_of", "install", "uninstall"]


def _compiling() -> bool:
    """Whether dynamo is tracing (torch.compiler.is_compiling, or its older home)."""
    check = getattr(torch.compiler, "is_compiling", None) or torch._dynamo.is_compiling
    return bool(check())


class Dissolved(nn.Module):
    """The parametrization ``X -> A(X)`` for one parameter, with its manifold, view and beta.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.constrain(torch.nn.Linear(3, 5), beta=0.5)
        >>> d = lin.parametrizations.weight[0]
        >>> (d.manifold.name, d.view.point_shape, d.beta)
        ('stiefel', (5, 3), 0.5)
    """

    def __init__(self, manifold: Manifold, view: MatrixView, beta: float) -> None:
        super().__init__()
        self.manifold, self.view, self.beta = manifold, view, float(beta)
        self._reset_transient()

    def _reset_transient(self) -> None:
        self._scope = 0  # > 0 while the owning module's forward runs
        self._cached: tuple[tuple, Tensor] | None = None  # (key, A(X)) inside that forward
        self._stash: tuple[tuple, Tensor] | None = None  # (key, C(X)) of the last evaluation

    def evaluate(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(X), C(X))`` in the parameter's shape and the manifold's constraint shape."""
        A, C = self.manifold.dissolve_with_constraint(self.view.to_points(X))
        return self.view.from_points(A), C

    def forward(self, X: Tensor) -> Tensor:
        """A(X), computed once per forward of the owning module."""
        if _compiling():
            return self.evaluate(X)[0]  # pure: no caching inside a traced graph
        key = (X._version, torch.is_grad_enabled())
        if self._scope and self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        A, C = self.evaluate(X)
        if self._scope:
            self._cached = (key, A)
        self._stash = (key, C)
        if A.requires_grad:  # backward through A frees what C shares with it
            A.register_hook(functools.partial(_drop_stash, weakref.ref(self), C))
        return A

    def right_inverse(self, W: Tensor) -> Tensor:
        """The X to store for a weight W: its projection onto the manifold."""
        return self.view.from_points(self.manifold.project(self.view.to_points(W)))

    def penalty(self, X: Tensor) -> Tensor:
        """1/2 ||C(X)||^2, reusing the forward's C(X) when valid (see Note [penalty reuse])."""
        stash, self._stash = self._stash, None
        if stash is not None and stash[0] == (X._version, torch.is_grad_enabled()):
            return self.manifold.penalty_from_constraint(stash[1])
        return self.manifold.penalty(self.view.to_points(X))

    def violation(self, X: Tensor) -> float:
        """The worst ||C(X)||_F over the parameter's points (gate blocks)."""
        with torch.no_grad():
            return float(self.manifold.violation(self.view.to_points(X)).max())

    def project_(self, X: Tensor) -> None:
        """Replace X in place by its projection onto the manifold."""
        with torch.no_grad():
            X.copy_(self.right_inverse(X))

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.update(_scope=0, _cached=None, _stash=None)
        return state

    def extra_repr(self) -> str:
        return f"manifold={self.manifold.name}, beta={self.beta}, view={self.view.describe()}"


def _drop_stash(ref: weakref.ref, C: Tensor, grad: Tensor) -> None:
    d = ref()
    if d is not None and d._stash is not None and d._stash[1] is C:
        d._stash = None


# Note [once per forward]
# ~~~~~~~~~~~~~~~~~~~~~~~
# A parametrized weight is recomputed at every attribute access: nn.RNN reads
# weight_hh_l0 several times per forward (_update_flat_weights, then
# _init_flat_weights), so a plain register_parametrization evaluates A four
# times per training step. A forward pre-hook on the owning module opens a
# scope; inside it Dissolved.forward caches A keyed by (X._version, grad mode);
# a forward hook registered with always_call=True closes the scope and drops the
# cache even if the forward raised. The cache never outlives one forward, so it
# can neither hold a freed graph (gradient accumulation) nor a stale X (an
# optimizer step between forwards). Under torch.compile the hooks and the cache
# are skipped: the traced graph is pure and the compiler dedupes.
#
# Note [penalty reuse]
# ~~~~~~~~~~~~~~~~~~~~
# dissolve_with_constraint returns (A, C) sharing work (X^T X for Stiefel). The
# last C is stashed with the same key; solvent.penalty consumes it once. A
# tensor hook on A drops the stash when backward reaches A, because that
# backward frees buffers C shares with A; an optimizer step changes X._version;
# a forward under no_grad stashes a C without graph (key mismatch). In every
# such case the penalty is recomputed from X.


def dissolved_of(module: nn.Module) -> dict[str, Dissolved]:
    """The solvent parametrizations of ``module``'s own tensors, by tensor name."""
    if not parametrize.is_parametrized(module):
        return {}
    return {
        name: p
        for name, plist in module.parametrizations.items()
        for p in plist
        if isinstance(p, Dissolved)
    }


def _enter_scope(module: nn.Module, args: tuple) -> None:
    if _compiling():
        return
    for d in dissolved_of(module).values():
        d._scope += 1


def _leave_scope(module: nn.Module, args: tuple, output: object) -> None:
    if _compiling():
        return
    for d in dissolved_of(module).values():
        d._scope = max(d._scope - 1, 0)
        if not d._scope:
            d._cached = None


def install(module: nn.Module) -> None:
    """Add the scope hooks and the copy/pickle support to a freshly parametrized module."""
    if _enter_scope not in module._forward_pre_hooks.values():
        module.register_forward_pre_hook(_enter_scope)
        module.register_forward_hook(_leave_scope, always_call=True)
    cls = type(module)
    cls.__reduce_ex__ = _reduce_ex
    cls.__deepcopy__ = _deepcopy


def uninstall(module: nn.Module) -> None:
    """Remove the scope hooks once ``module`` has no solvent constraint left."""
    if dissolved_of(module):
        return
    for hooks in (module._forward_pre_hooks, module._forward_hooks):
        for key in [k for k, f in hooks.items() if f in (_enter_scope, _leave_scope)]:
            del hooks[key]
            module._forward_hooks_always_called.pop(key, None)


# Serialization: torch refuses to pickle parametrized modules (their class is
# generated), and deepcopy trips over graph-carrying tensors some modules keep
# in __dict__ (nn.RNN's _flat_weights). We reduce to (plain class, state) and
# rebuild the parametrized class on load.
def _plain_state(module: nn.Module) -> tuple[type, dict]:
    base = type(module).__bases__[0]
    state = base.__getstate__(module) if hasattr(base, "__getstate__") else dict(module.__dict__)
    return base, {k: _detached(v) for k, v in state.items()}


def _detached(v: object) -> object:
    if isinstance(v, Tensor) and v.grad_fn is not None:
        return v.detach()
    if isinstance(v, (list, tuple)) and any(isinstance(t, Tensor) for t in v):
        return type(v)(_detached(t) for t in v)
    return v


def _rebuild(base: type, state: dict) -> nn.Module:
    module = base.__new__(base)
    module.__setstate__(state)
    parametrize._inject_new_class(module)
    for name in module.parametrizations:
        parametrize._inject_property(module, name)
    install(module)
    return module


def _reduce_ex(self: nn.Module, protocol: int) -> tuple:
    return _rebuild, _plain_state(self)


def _deepcopy(self: nn.Module, memo: dict) -> nn.Module:
    if id(self) in memo:
        return memo[id(self)]
    base, state = _plain_state(self)
    new = _rebuild(base, copy.deepcopy(state, memo))
    memo[id(self)] = new
    return new
