"""The recurrent-module adapter: ``nn.RNN``/``nn.LSTM``/``nn.GRU`` read their weights from a cache.

This file is the only place in solvent that touches torch-private fields.

Note [recurrent weight cache]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
``nn.RNNBase.forward`` does not read ``self.weight_hh_l0``: it reads the list
``self._flat_weights`` (the tensors for every layer and direction, in the
order of ``self._flat_weights_names``), rebuilt by ``_init_flat_weights``
whenever ``_weights_have_changed`` notices (through the weak references in
``_flat_weight_refs``) that a weight is not the tensor it cached. To hand the
forward A(X) without writing it into that shared list (which another
thread's forward reads at the same time), the constrained class defines
``_flat_weights`` as a property: inside this thread's forward of the module
it returns a fresh list with this thread's A(X) in the constrained slots;
otherwise, the stored list, which always holds the Parameters (X). The
stored list lives in ``module.__dict__["_flat_weights"]`` as torch keeps it,
so ``__getstate__``, ``_apply`` (``.to()``, ``.double()``), DataParallel's
replicas and ``state_dict`` see the module as torch built it.
``_weights_have_changed`` and ``_init_flat_weights`` compare against and
cache the stored tensors (never A(X), which is new every forward), and
``flatten_parameters`` (cuDNN's contiguous copy) works on the stored list.

Tested on torch 2.14.1 (tests/test_layers*.py, tests/test_layers_threads.py:
every recurrent class, every layer and direction, proj_size). A torch release
that renames these fields fails those tests loudly, never silently.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

from torch import Tensor, nn

from solvent.layers.handover import frame_of, raw_view

__all__ = ["RECURRENT_MEMBERS", "is_recurrent"]

_STORED = "_flat_weights"


def is_recurrent(cls: type) -> bool:
    """Whether instances of ``cls`` cache their weights in ``_flat_weights``."""
    return issubclass(cls, nn.RNNBase)


def _stored(module: nn.Module, name: str) -> Tensor | None:
    """The tensor stored under ``name`` (X for a constrained name, never A(X))."""
    params = module._parameters
    if name in params:
        return params[name]
    return getattr(module, name, None)


def _get_flat(self: nn.RNNBase) -> list:
    stored = self.__dict__[_STORED]
    frame = frame_of(self)
    if not frame:
        return stored
    # besides A(X) by name, the frame holds the list built from it under _STORED
    cache = cast("dict[str, Any]", frame)
    built = cache.get(_STORED)  # built once per frame, for the stored list it was built from
    if built is None or built[0] is not stored:
        names = self._flat_weights_names
        weights = [frame.get(n, w) for n, w in zip(names, stored, strict=True)]
        built = cache[_STORED] = (stored, weights)
    return built[1]


def _set_flat(self: nn.RNNBase, value: list) -> None:
    self.__dict__[_STORED] = value


def _weights_have_changed(self: nn.RNNBase) -> bool:
    refs, names = self._flat_weight_refs, self._flat_weights_names
    for ref, name in zip(refs, names, strict=True):
        w = _stored(self, name)
        if w is not None and ref is not None and ref() is not w:
            return True
    return False


def _init_flat_weights(self: nn.RNNBase) -> None:
    stored = [_stored(self, n) for n in self._flat_weights_names]
    self.__dict__[_STORED] = stored
    refs = [weakref.ref(w) if w is not None else None for w in stored]
    # torch annotates these as references to Parameters; like torch's own, they
    # reference whatever tensor is stored under the name
    self._flat_weight_refs = cast("list[weakref.ReferenceType[nn.Parameter] | None]", refs)
    self.flatten_parameters()


def _flatten_parameters(self: nn.RNNBase) -> None:
    with raw_view(self):
        # _solvent_base: set on the class solvent.layers.constrained builds
        getattr(type(self), "_solvent_base").flatten_parameters(self)


# The members the constrained class of a recurrent module overrides.
RECURRENT_MEMBERS = {
    "_flat_weights": property(_get_flat, _set_flat, doc="Note [recurrent weight cache]"),
    "_weights_have_changed": _weights_have_changed,
    "_init_flat_weights": _init_flat_weights,
    "flatten_parameters": _flatten_parameters,
}
