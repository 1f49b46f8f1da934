"""How a constrained module sees A(X): one forward pre-hook, the maths, nothing else.

Invariants, enforced here (see Note [hand the module A(X)]):
  * the parameter stays a plain ``nn.Parameter`` under its own name: it is the
    free variable X. ``state_dict`` keys, optimizers, DDP/FSDP, pickling and
    ``torch.func.functional_call`` see an ordinary module;
  * during the module's forward, and only then, the attribute ``module.name`` is
    A(X), computed once by a forward pre-hook from whatever tensor is in
    ``module._parameters[name]`` (so functional_call's swapped tensors work);
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
    if torch.compiler.is_compiling():  # a traced graph is pure: no stash, no tensor hooks
        for name, d in module.__dict__[ATTR].items():
            module.__dict__[name] = d.evaluate(module._parameters[name])[0]
        return
    grad = torch.is_grad_enabled()
    for name, d in module.__dict__[ATTR].items():
        X = module._parameters[name]
        A, C = d.evaluate(X)
        d._stash = (X, X._version, grad, C)
        if A.requires_grad:  # backward through A frees buffers C shares with it
            A.register_hook(functools.partial(_drop_stash, weakref.ref(d), C))
        module.__dict__[name] = A


def _take_back(module: nn.Module, args: tuple, output: object) -> None:
    """Forward hook (always called): ``module.name`` is X again."""
    pop = module.__dict__.pop
    for name in module.__dict__[ATTR]:
        pop(name, None)
    if "_flat_weights" in module.__dict__:  # recurrent modules cache their weights
        module._update_flat_weights()


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
# parameter stays an ordinary Parameter (X), and a forward pre-hook puts A(X)
# in the instance __dict__, which attribute lookup reads before nn.Module's
# __getattr__ (where parameters live). The forward hook, registered with
# always_call=True, removes it even when the forward raises. Recurrent modules
# refresh their _flat_weights from the attributes at the start of forward (so
# they see A) and are refreshed again afterwards (so no graph outlives it).
# Outside a forward, module.weight is X itself (feasible up to the penalty's
# tolerance); solvent.bake replaces X by A(X) for inference.
#
# Note [penalty reuse]
# ~~~~~~~~~~~~~~~~~~~~
# The pre-hook stashes the C(X) it computed with A(X), keyed by the tensor X,
# its version counter and the grad mode. solvent.penalty consumes it once. A
# tensor hook on A drops it when backward reaches A (that backward frees
# buffers C shares with A); an optimizer step bumps X._version; a forward under
# no_grad stashes a C without a graph (grad-mode mismatch). In each case the
# penalty is recomputed from X.


# ------------------------------------------------------------------ checkpoints
def _mark_state(module: nn.Module, state: dict, prefix: str, local_metadata) -> None:
    """state_dict hook: mark the constrained tensors, so a load knows where they came from."""
    for name in dissolved_of(module):
        state[prefix + name + _MARK] = torch.zeros(())


def _read_marks(module, state, prefix, local_metadata, strict, missing, unexpected, errors):
    """load_state_dict pre-hook: note which constrained tensors come from a constrained module."""
    marked = set()
    for name in dissolved_of(module):
        if state.pop(prefix + name + _MARK, None) is not None:
            marked.add(name)
    module.__dict__["_solvent_loaded_marked"] = (
        marked,
        {n for n in dissolved_of(module) if prefix + n in state},
    )


def _after_load(module: nn.Module, incompatible) -> None:
    """load_state_dict post-hook: a plain weight loaded into a constrained one is projected."""
    marked, loaded = module.__dict__.pop("_solvent_loaded_marked", (set(), set()))
    for name in sorted(loaded - marked):
        d, X = dissolved_of(module)[name], module._parameters[name]
        where = f"{type(module).__name__}.{name}"
        v = d.violation(X) if torch.isfinite(X).all() else float("inf")
        if v > d.manifold.default_atol(d.view.to_points(X.detach())):
            d.project_(X, where)
            warnings.warn(
                f"{where}: the loaded weight was not on {d.manifold.name} (violation {v:.3g}); "
                "it was projected onto the manifold. Load a checkpoint saved by the constrained "
                "model to resume exactly.",
                stacklevel=3,
            )


# ------------------------------------------------------------------ set-up
def install(module: nn.Module, name: str, d: Dissolved) -> None:
    """Constrain ``module.name`` by ``d`` (X already feasible); hooks added once per module."""
    table = module.__dict__.setdefault(ATTR, {})
    table[name] = d
    if len(table) == 1:
        module.register_forward_pre_hook(_hand_over)
        module.register_forward_hook(_take_back, always_call=True)
        module._register_state_dict_hook(_mark_state)
        module._register_load_state_dict_pre_hook(_read_marks, with_module=True)
        module.register_load_state_dict_post_hook(_after_load)


def uninstall(module: nn.Module, name: str) -> Dissolved:
    """Remove the constraint on ``module.name``; the hooks go with the last one."""
    table = module.__dict__[ATTR]
    d = table.pop(name)
    if not table:
        del module.__dict__[ATTR]
        ours = (_hand_over, _take_back, _mark_state, _read_marks, _after_load)
        for hooks in (
            module._forward_pre_hooks,
            module._forward_hooks,
            module._state_dict_hooks,
            module._load_state_dict_pre_hooks,
            module._load_state_dict_post_hooks,
        ):
            for key in [k for k, f in hooks.items() if _unwrap(f) in ours]:
                del hooks[key]
                module._forward_hooks_always_called.pop(key, None)
    return d


def _unwrap(f: object) -> object:
    """The function behind a hook entry (torch wraps some load hooks)."""
    while True:
        inner = getattr(f, "hook", None) or getattr(f, "func", None)
        if inner is None:
            return f
        f = inner
