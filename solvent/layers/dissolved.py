"""How a constrained module sees A(X): one forward pre-hook, the maths, nothing else.

Invariants, enforced here (see Notes [hand the module A(X)], [constrained class]):
  * the parameter stays a plain ``nn.Parameter`` under its own name: it is the
    free variable X. ``state_dict`` keys, optimizers, DDP/FSDP, pickling and
    ``torch.func.functional_call`` see an ordinary module;
  * reading ``module.name`` gives A(X): during the module's forward the one A(X)
    computed by a forward pre-hook from whatever tensor is in
    ``module._parameters[name]`` (so functional_call's swapped tensors work),
    outside a forward A(X) evaluated afresh;
  * the C(X) computed with A(X) is stashed for ``solvent.penalty`` and dropped
    as soon as it can no longer be reused (Note [penalty reuse]);
  * nothing transient (A, the stash) survives the forward, a copy or a pickle;
  * everything checkable was checked by ``constrain``: the hot path validates
    nothing (the manifold's protected hooks are called directly).
"""

from __future__ import annotations

import functools
import warnings
import weakref

import torch
from torch import Tensor, nn

from solvent.exceptions import NonFiniteError
from solvent.layers.shapes import MatrixView
from solvent.manifolds.base import Manifold

__all__ = ["ATTR", "Dissolved", "dissolved_of", "install", "uninstall"]

ATTR = "_solvent_dissolved"  # module.__dict__[ATTR]: {parameter name: Dissolved}
_SEEN = "_solvent_seen"  # module.__dict__[_SEEN]: {parameter name: A(X)} during a forward
_MARK = ":solvent"  # state_dict key suffix marking a tensor saved by a constrained module


class Dissolved:
    """The constraint on one parameter: manifold, matrix view, beta, and the map ``X -> A(X)``.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.constrain(torch.nn.Linear(3, 5), beta=0.5)
        >>> d = solvent.layers.dissolved_of(lin)["weight"]
        >>> (d.manifold.name, d.view.point_shape, d.beta)
        ('stiefel', (5, 3), 0.5)
    """

    def __init__(self, manifold: Manifold, view: MatrixView, beta: float) -> None:
        self.manifold, self.view, self.beta = manifold, view, float(beta)
        self._stash: tuple | None = None  # (X, X._version, grad mode, C) of the last forward

    def evaluate(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(X), C(X))``: A in the parameter's shape, C in the manifold's."""
        A, C = self.manifold._dissolve_with_constraint(self.view.to_points(X))
        return self.view.from_points(A), C

    def penalty(self, X: Tensor) -> Tensor:
        """1/2 ||C(X)||^2, reusing the forward's C(X) when valid (Note [penalty reuse])."""
        stash, self._stash = self._stash, None
        if (
            stash is not None
            and stash[0] is X
            and stash[1] == X._version
            and stash[2] == torch.is_grad_enabled()
        ):
            return self.manifold.penalty_from_constraint(stash[3])
        return self.manifold._penalty(self.view.to_points(_full(X)))

    def violation(self, X: Tensor) -> float:
        """The worst ||C(X)||_F over the parameter's points (gate blocks)."""
        with torch.no_grad():
            return float(self.manifold._violation(self.view.to_points(_full(X))).max())

    def project(self, W: Tensor, where: str) -> Tensor:
        """The feasible X nearest a weight W (half/bfloat16 via float32); W must be finite."""
        bad = int((~torch.isfinite(W)).sum())
        if bad:
            raise NonFiniteError(where, bad, W.numel())
        return self.view.from_points(self.manifold.project(self.view.to_points(W)))

    def project_(self, X: Tensor, where: str) -> None:
        """Replace X in place by its projection onto the manifold."""
        with torch.no_grad():
            X.copy_(self.project(X, where))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_stash": None}

    def __repr__(self) -> str:
        return (
            f"Dissolved(manifold={self.manifold.name}, beta={self.beta}, "
            f"view={self.view.describe()})"
        )


def _full(X: Tensor) -> Tensor:
    """A sharded (FSDP2 DTensor) parameter gathered whole; any other tensor as it is."""
    return X.full_tensor() if hasattr(X, "full_tensor") else X


def dissolved_of(module: nn.Module) -> dict[str, Dissolved]:
    """The solvent constraints on ``module``'s own parameters, by parameter name."""
    return module.__dict__.get(ATTR, {})


# ------------------------------------------------------------------ the hot path
def _hand_over(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: ``module.name`` becomes A(X) for the duration of the forward."""
    seen = module.__dict__[_SEEN] = {}
    if torch.compiler.is_compiling():  # a traced graph is pure: no stash, no tensor hooks
        for name, d in module.__dict__[ATTR].items():
            seen[name] = d.evaluate(module._parameters[name])[0]
        return
    grad = torch.is_grad_enabled()
    flat = module.__dict__.get("_flat_weights")
    for name, d in module.__dict__[ATTR].items():
        X = module._parameters[name]
        A, C = d.evaluate(X)
        d._stash = (X, X._version, grad, C)
        if A.requires_grad:  # backward through A frees buffers C shares with it
            A.register_hook(functools.partial(_drop_stash, weakref.ref(d), C))
        seen[name] = A
        if flat is not None:
            _put_flat(module, flat, name, A)


def _take_back(module: nn.Module, args: tuple, output: object) -> None:
    """Forward hook (always called): the forward's A(X) is dropped."""
    module.__dict__.pop(_SEEN, None)
    _release_flat_weights(module)


def _put_flat(module: nn.Module, flat: list, name: str, W: Tensor) -> None:
    """Recurrent modules cache their weights in _flat_weights (and weak references to
    them, to notice a change): put W in the slot of ``name`` so that their forward
    uses it without rebuilding the whole cache."""
    i = module._flat_weights_names.index(name)
    flat[i] = W
    module._flat_weight_refs[i] = weakref.ref(W)


def _release_flat_weights(module: nn.Module) -> None:
    """After a forward the cache holds the Parameters again: no graph outlives it."""
    flat = module.__dict__.get("_flat_weights")
    if flat is not None:
        params = module._parameters
        for name in module.__dict__.get(ATTR, ()):
            _put_flat(module, flat, name, params[name])


def _drop_stash(ref: weakref.ref, C: Tensor, grad: Tensor) -> None:
    d = ref()
    if d is not None and d._stash is not None and d._stash[3] is C:
        d._stash = None


# Note [hand the module A(X)]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
# torch's parametrize recomputes a weight at every attribute access (nn.RNN
# reads weight_hh_l0 several times per forward) through a generated class, a
# property and two module calls; measured in benchmarks/bench_overhead.py, that
# plumbing alone costs about as much as the map at small sizes. Here the
# parameter stays an ordinary Parameter (X); a forward pre-hook computes A(X)
# once per forward and the class property (Note [constrained class]) hands it
# out; the forward hook, registered with always_call=True, drops it even when
# the forward raises. Recurrent modules refresh their _flat_weights from the
# attributes at the start of forward (so they see A); afterwards they hold the
# Parameters again (so no graph outlives the forward).
#
# Note [penalty reuse]
# ~~~~~~~~~~~~~~~~~~~~
# The pre-hook stashes the C(X) it computed with A(X), keyed by the tensor X,
# its version counter and the grad mode. solvent.penalty consumes it once. A
# tensor hook on A drops it when backward reaches A (that backward frees
# buffers C shares with A); an optimizer step bumps X._version; a forward under
# no_grad stashes a C without a graph (grad-mode mismatch). In each case the
# penalty is recomputed from X.


# ------------------------------------------------------------------ the constrained class
# Note [constrained class]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# Code outside the module's own forward reads the weight too: a parent module
# that uses ``child.weight`` in its forward (a hand-written recurrence, weight
# tying), a user inspecting it. It must see A(X), never X. So constrain swaps
# the module's class for a subclass of it, made by solvent (one per (class,
# constrained names), cached), whose property ``name`` returns the forward's
# A(X) inside a forward and evaluates A(X) afresh outside one; assigning to it
# stores the projection of the value in X (in place: optimizers keep their
# Parameter). The subclass also marks constrained tensors in the state_dict and
# projects plain weights on load (below), and pickles and deep-copies as
# (plain class, state), rebuilt on load. It is installed only by constrain and
# removed with the last constraint (unconstrain, bake): the module is then of
# its own class again. torch's parametrize does the same (a generated class
# with properties); here the class is solvent's own, so its pickling is too.
_CLASSES: dict[tuple[type, tuple[str, ...]], type] = {}


def _weight_property(name: str) -> property:
    def fget(self):
        seen = self.__dict__.get(_SEEN)
        if seen is not None and name in seen:
            return seen[name]
        X = self._parameters[name]
        if hasattr(X, "full_tensor"):  # a shard owned by FSDP2, which reads its own Parameter
            return X
        return self.__dict__[ATTR][name].evaluate(X)[0]

    def fset(self, value):
        where = f"{type(self).__name__}.{name}"
        if not isinstance(value, Tensor):
            raise TypeError(f"{where} takes a tensor, got {type(value).__name__}")
        X = self._parameters[name]
        if value.shape != X.shape:
            raise ValueError(f"{where} has shape {tuple(X.shape)}, got {tuple(value.shape)}")
        d = self.__dict__[ATTR][name]
        with torch.no_grad():
            X.copy_(d.project(value.detach().to(X.dtype), where))

    return property(fget, fset, doc=f"A(X) for the constrained parameter {name!r}.")


def _setattr(self, name: str, value: object) -> None:
    # A tensor assigned to a constrained weight is a new weight: its projection
    # goes into X. A Parameter is a new X (how FSDP2 and other frameworks swap
    # parameters in and out), set as torch sets it.
    if name in self.__dict__.get(ATTR, ()) and not isinstance(value, nn.Parameter):
        getattr(type(self), name).fset(self, value)
    else:
        type(self)._solvent_base.__setattr__(self, name, value)


def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
    type(self)._solvent_base._save_to_state_dict(self, destination, prefix, keep_vars)
    for name in dissolved_of(self):
        destination[prefix + name + _MARK] = torch.zeros(())


def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
    table = dissolved_of(self)
    marked = {n for n in table if state_dict.pop(prefix + n + _MARK, None) is not None}
    loaded = {n for n in table if prefix + n in state_dict}
    type(self)._solvent_base._load_from_state_dict(self, state_dict, prefix, *args)
    for name in sorted(loaded - marked):
        _project_loaded(self, name)


def _project_loaded(module: nn.Module, name: str) -> None:
    """A plain weight loaded into a constrained one is projected, with a warning if it moved."""
    d, X = dissolved_of(module)[name], module._parameters[name]
    where = f"{type(module).__name__}.{name}"
    v = d.violation(X) if torch.isfinite(X).all() else float("inf")
    if v > d.manifold.default_atol(d.view.to_points(X.detach())):
        d.project_(X, where)
        warnings.warn(
            f"{where}: the loaded weight was not on {d.manifold.name} (violation {v:.3g}); "
            "it was projected onto the manifold. Load a checkpoint saved by the constrained "
            "model to resume exactly.",
            stacklevel=4,
        )


def _reduce_ex(self: nn.Module, protocol: int) -> tuple:
    state = self.__getstate__()  # nn.RNN's refreshes _flat_weights through the property
    _release_flat_weights(self)
    if "_flat_weights" in state:
        state["_flat_weights"] = self._flat_weights
    return _rebuild, (type(self)._solvent_base, state)


def _rebuild(base: type, state: dict) -> nn.Module:
    module = base.__new__(base)
    module.__setstate__(state)
    _set_class(module)
    return module


def _constrained_class(base: type, names: tuple[str, ...]) -> type:
    key = (base, names)
    cls = _CLASSES.get(key)
    if cls is None:
        ns = {n: _weight_property(n) for n in names}
        ns.update(
            __module__=base.__module__,
            __qualname__=base.__qualname__,
            __reduce_ex__=_reduce_ex,
            __setattr__=_setattr,
            _solvent_base=base,
            _save_to_state_dict=_save_to_state_dict,
            _load_from_state_dict=_load_from_state_dict,
        )
        cls = _CLASSES[key] = type(base.__name__, (base,), ns)
    return cls


def _set_class(module: nn.Module) -> None:
    base = type(module).__dict__.get("_solvent_base") or type(module)
    names = tuple(sorted(dissolved_of(module)))
    module.__class__ = _constrained_class(base, names) if names else base
    _release_flat_weights(module)


# ------------------------------------------------------------------ set-up
def install(module: nn.Module, name: str, d: Dissolved) -> None:
    """Constrain ``module.name`` by ``d`` (X already feasible); hooks added once per module."""
    table = module.__dict__.setdefault(ATTR, {})
    table[name] = d
    if len(table) == 1:
        module.register_forward_pre_hook(_hand_over)
        module.register_forward_hook(_take_back, always_call=True)
    _set_class(module)


def uninstall(module: nn.Module, name: str) -> Dissolved:
    """Remove the constraint on ``module.name``; the hooks and the class go with the last one."""
    table = module.__dict__[ATTR]
    d = table.pop(name)
    if not table:
        del module.__dict__[ATTR]
        pairs = ((module._forward_pre_hooks, _hand_over), (module._forward_hooks, _take_back))
        for hooks, ours in pairs:
            for key in [k for k, f in hooks.items() if f is ours]:
                del hooks[key]
                module._forward_hooks_always_called.pop(key, None)
    _set_class(module)
    return d
