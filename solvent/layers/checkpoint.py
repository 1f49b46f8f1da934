"""Checkpoints of constrained modules: what ``state_dict`` saves and how a load is checked.

Invariants, enforced here:
  * a constrained module saves its stored tensors (X, or Z for a chart) under
    the parameter's own key, plus a marker key ``<name>:solvent`` saying so;
  * a marked tensor loads exactly (resuming training is bit-exact); an
    unmarked one is a plain weight: it is projected onto the manifold (and
    lifted to Z for a chart) *before* anything is copied, with a warning if
    it moved; ``assign=True`` then assigns that new tensor, never the
    caller's;
  * a non-finite incoming tensor is refused (NonFiniteError) before anything
    of the module is copied;
  * a load that records an error for this module (a size mismatch; a
    missing key under ``strict``) leaves the module bit-identical: its own
    tensors are put back as they were and nothing is warned.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from solvent.exceptions import NonFiniteError
from solvent.layers.handover import ATTR

__all__ = ["MARK", "load_from_state_dict", "save_to_state_dict"]

MARK = ":solvent"  # state_dict key suffix marking a tensor saved by a constrained module


def save_to_state_dict(self: nn.Module, destination, prefix, keep_vars) -> None:
    """The base class's entries, then one marker per constrained name."""
    # _solvent_base: set on the class solvent.layers.constrained builds
    getattr(type(self), "_solvent_base")._save_to_state_dict(self, destination, prefix, keep_vars)
    for name in self.__dict__[ATTR]:
        destination[prefix + name + MARK] = torch.zeros(())


def load_from_state_dict(
    self: nn.Module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors
) -> None:
    """Check and convert the incoming constrained tensors, load, roll back on an error."""
    table = self.__dict__[ATTR]
    moved = {}
    for name, d in table.items():
        marked = state_dict.pop(prefix + name + MARK, None) is not None
        key = prefix + name
        value = state_dict.get(key)
        if not isinstance(value, Tensor):
            continue
        where = f"{type(self).__name__}.{name}"
        _check_finite(value, where)
        if not marked and tuple(value.shape) == d.view.shape:
            state_dict[key], v = _from_plain(d, value, where)
            if v is not None:
                moved[name] = v
    before = _snapshot(self)
    n_errors = len(errors)
    getattr(type(self), "_solvent_base")._load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors
    )
    if len(errors) > n_errors or (strict and _own_missing(self, prefix, missing)):
        _restore(self, before)
        return
    for name, v in moved.items():
        warnings.warn(
            f"{type(self).__name__}.{name}: the loaded weight was not on "
            f"{table[name].manifold.name} (violation {v:.3g}); it was projected onto the "
            "manifold. Load a checkpoint saved by the constrained model to resume exactly.",
            stacklevel=5,
        )


def _check_finite(value: Tensor, where: str) -> None:
    bad = int((~torch.isfinite(value)).sum()) if value.numel() else 0
    if bad:
        raise NonFiniteError(f"{where} in the checkpoint", bad, value.numel())


def _from_plain(d, W: Tensor, where: str) -> tuple[Tensor, float | None]:
    """(the stored tensor for the plain weight W, its violation if it had to move, else None)."""
    W = W.detach()
    points = d.view.to_points(W)
    with torch.no_grad():
        v = d.manifold._violation(points.to(torch.promote_types(W.dtype, torch.float32)))
    worst = float(v.max()) if v.numel() else 0.0
    on_manifold = worst <= d.tolerance(W.dtype)
    if on_manifold and d.manifold.kind == "equality":
        return W.clone(), None  # already on M: loaded as it is, silently
    with torch.no_grad():
        S = d.lift_weight(W, where)
    return S, (None if on_manifold else worst)


def _own_missing(module: nn.Module, prefix: str, missing: list) -> bool:
    own = {prefix + n for n in (*module._parameters, *module._buffers)}
    return any(k in own for k in missing)


def _snapshot(module: nn.Module) -> dict:
    """The module's own tensors: the objects and their values."""
    out = {}
    for kind in ("_parameters", "_buffers"):
        for name, t in getattr(module, kind).items():
            if t is not None:
                out[(kind, name)] = (t, t.detach().clone())
    return out


def _restore(module: nn.Module, before: dict) -> None:
    with torch.no_grad():
        for (kind, name), (obj, value) in before.items():
            table = getattr(module, kind)
            if table.get(name) is not obj:  # assign=True swapped the object
                table[name] = obj
            if obj.shape == value.shape and not torch.equal(obj.detach(), value):
                obj.copy_(value)
