"""The constrained class: ``Constrained<Cls>``, a subclass solvent generates for a module's class.

Note [constrained class]
~~~~~~~~~~~~~~~~~~~~~~~~
Code outside the module's own forward reads the weight too: a parent module
that uses ``child.weight`` (a hand-written recurrence, weight tying), a user
inspecting it. It must see A(X), never X. So ``constrain`` swaps the
module's class for a subclass of it made by solvent (one per (class,
constrained names), cached) whose name says so: ``nn.Linear`` becomes
``ConstrainedLinear`` (``isinstance(m, nn.Linear)`` still holds; torch's
parametrize does the same with ``ParametrizedLinear``, and ``repr(model)``
shows which modules are constrained). The class defines:

* a property per constrained name, whose getter is
  :func:`solvent.layers.handover.read` and whose setter stores the
  projection of an assigned tensor in X, in place (optimizers keep their
  Parameter); assigning a Parameter swaps X as torch would (FSDP2 does);
* ``forward``: the base class's forward run inside this thread's frame of
  A(X) (:func:`solvent.layers.handover.run_forward`), so every read in the
  forward gets the same A(X), computed once;
* ``_save_to_state_dict`` / ``_load_from_state_dict``
  (:mod:`solvent.layers.checkpoint`) and ``__reduce_ex__``
  (:mod:`solvent.layers.pickling`);
* for recurrent modules, the adapter's members (:mod:`solvent.layers.recurrent`).

It is installed only by ``constrain`` and removed with the last constraint
(``unconstrain``, ``bake``): the module is then of its own class again, with
no hook left behind.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from solvent.layers import checkpoint, handover, pickling, recurrent
from solvent.layers.dissolved import Dissolved
from solvent.layers.guard import attach
from solvent.layers.handover import ATTR

__all__ = ["PREFIX", "base_class", "dissolved_of", "install", "set_class", "uninstall"]

PREFIX = "Constrained"
_CLASSES: dict[tuple[type, tuple[str, ...]], type] = {}


def dissolved_of(module: nn.Module) -> dict[str, Dissolved]:
    """The solvent constraints on ``module``'s own parameters, by parameter name.

    Example:
        >>> import torch, solvent
        >>> sorted(dissolved_of(solvent.constrain(torch.nn.GRU(2, 3))))
        ['weight_hh_l0']
    """
    return module.__dict__.get(ATTR, {})


def base_class(module: nn.Module) -> type[nn.Module]:
    """The module's class as the user built it (the constrained class's base)."""
    return getattr(type(module), "_solvent_base", type(module))


def _weight_property(name: str) -> property:
    def fget(self):
        return handover.read(self, name)

    def fset(self, value):
        where = f"{type(self).__name__}.{name}"
        if not isinstance(value, Tensor):
            raise TypeError(f"{where} takes a tensor, got {type(value).__name__}")
        d = self.__dict__[ATTR][name]
        if tuple(value.shape) != d.view.shape:
            raise ValueError(f"{where} has shape {d.view.shape}, got {tuple(value.shape)}")
        S = self._parameters[name]
        with torch.no_grad():
            S.copy_(d.lift_weight(value.detach().to(S.dtype), where))
        d.deferred = False

    return property(fget, fset, doc=f"A(X) for the constrained parameter {name!r}.")


def _setattr(self, name: str, value: object) -> None:
    # A tensor assigned to a constrained weight is a new weight: its projection
    # goes into X. A Parameter is a new X (how FSDP2 and other frameworks swap
    # parameters in and out), set as torch sets it.
    if name in self.__dict__.get(ATTR, ()) and not isinstance(value, nn.Parameter):
        getattr(type(self), name).fset(self, value)
    else:
        type(self)._solvent_base.__setattr__(self, name, value)


def _forward_of(base: type[nn.Module]):
    inner = base.forward

    @functools.wraps(inner)  # inspect.signature(module.forward) stays the base's
    def forward(self, *args, **kwargs):
        return handover.run_forward(self, inner, args, kwargs)

    return forward


def _constrained_class(base: type[nn.Module], names: tuple[str, ...]) -> type:
    key = (base, names)
    cls = _CLASSES.get(key)
    if cls is None:
        ns: dict[str, object] = {n: _weight_property(n) for n in names}
        if recurrent.is_recurrent(base):
            ns.update(recurrent.RECURRENT_MEMBERS)
        ns.update(
            __module__=__name__,
            __qualname__=PREFIX + base.__qualname__,
            __doc__=f"{base.__name__} with solvent constraints on {', '.join(names)}.",
            __reduce_ex__=pickling.reduce_ex,
            __setattr__=_setattr,
            _solvent_base=base,
            _save_to_state_dict=checkpoint.save_to_state_dict,
            _load_from_state_dict=checkpoint.load_from_state_dict,
            forward=_forward_of(base),
        )
        cls = _CLASSES[key] = type(PREFIX + base.__name__, (base,), ns)
    return cls


def set_class(module: nn.Module) -> None:
    """Give ``module`` the constrained class for its constrained names (its own class if none)."""
    base = base_class(module)
    names = tuple(sorted(dissolved_of(module)))
    module.__class__ = _constrained_class(base, names) if names else base
    for name, d in dissolved_of(module).items():
        X = module._parameters[name]
        if X is not None:  # attach hooks Parameters only
            attach(d, X)


def install(module: nn.Module, name: str, d: Dissolved) -> None:
    """Constrain ``module.name`` by ``d`` (the stored tensor is already in place)."""
    module.__dict__.setdefault(ATTR, {})[name] = d
    set_class(module)


def uninstall(module: nn.Module, name: str) -> Dissolved:
    """Remove the constraint on ``module.name``; the class goes with the last one."""
    table = module.__dict__[ATTR]
    d = table.pop(name)
    d.keep_feasible = False  # the guard's hook on X, if any, stops acting
    if not table:
        del module.__dict__[ATTR]
    set_class(module)
    return d
