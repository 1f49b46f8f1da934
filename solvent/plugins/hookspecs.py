"""The one hook a solvent plugin implements."""

from __future__ import annotations

import pluggy

__all__ = ["hookspec", "hookimpl", "solvent_register_manifolds"]

hookspec = pluggy.HookspecMarker("solvent")
hookimpl = pluggy.HookimplMarker("solvent")


@hookspec
def solvent_register_manifolds(register) -> None:
    """Register manifolds by calling ``register(name, factory)`` once per manifold.

    ``factory(**kwargs)`` returns a :class:`solvent.manifolds.base.Manifold`;
    a Manifold subclass is a factory.

    Example:
        >>> import solvent
        >>> class MyPlugin:
        ...     @solvent.hookimpl
        ...     def solvent_register_manifolds(self, register):
        ...         register("my_stiefel", solvent.manifolds.Stiefel)
    """
