"""Pickling and copying a constrained module: as its plain class plus state, rebuilt on load.

Invariants, enforced here:
  * a constrained module pickles (``pickle``, ``torch.save(module)``,
    ``copy.deepcopy``) as ``(plain class, state)``: the generated constrained
    class is never looked up by name, so a pickle loads wherever solvent is
    importable, whichever classes were generated in that process;
  * nothing transient travels (per-thread frames live outside the module; a
    Dissolved drops its stash and guard state), and the copy's guard is
    attached to the copy's own Parameters.
"""

from __future__ import annotations

from torch import nn

__all__ = ["reduce_ex"]


def reduce_ex(self: nn.Module, protocol: int) -> tuple:
    """``__reduce_ex__`` of a constrained class: rebuild from the plain class and the state."""
    # _solvent_base: set on the class solvent.layers.constrained builds
    return _rebuild, (getattr(type(self), "_solvent_base"), self.__getstate__())


def _rebuild(base: type[nn.Module], state: dict) -> nn.Module:
    from solvent.layers.constrained import set_class  # the class factory imports this file

    module = base.__new__(base)
    module.__setstate__(state)
    set_class(module)
    return module
