"""The plugin manager and the manifold registry.

Invariants of the registry, enforced in :func:`_build_registry`:
  * every name maps to exactly one factory; a second claim is a
    DuplicateManifoldError naming both plugins;
  * a plugin whose module fails to import, whose hook is misspelled (pluggy's
    check_pending, run per installed plugin in :func:`_load_entry_points`), or
    whose hook raises, contributes nothing (its partial registrations are
    dropped) and is reported by a PluginLoadWarning naming it and its error;
    the others keep working;
  * an installed plugin whose entry-point name is already taken by another is
    skipped with a PluginLoadWarning naming both, never silently;
  * the registry is built whole and then published, so an error leaves no
    half-registered state behind; :func:`register_plugin` raises the new
    plugin's own errors (rather than warning) and unregisters it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import inspect
import os
import re
import threading
import warnings
from collections.abc import Callable

import pluggy

from solvent.exceptions import (
    DuplicateManifoldError,
    ManifoldOptionError,
    PluginLoadWarning,
    UnknownManifoldError,
)
from solvent.plugins import builtin, hookspecs

__all__ = [
    "ENTRY_POINT_GROUP",
    "DISABLE_AUTOLOAD_ENV",
    "DEFAULT_PLUGINS",
    "ManifoldEntry",
    "get_plugin_manager",
    "registry",
    "available",
    "manifold",
    "register_plugin",
    "reset",
]

ENTRY_POINT_GROUP = "solvent"
DISABLE_AUTOLOAD_ENV = "SOLVENT_DISABLE_PLUGIN_AUTOLOAD"
DEFAULT_PLUGINS = (builtin,)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclasses.dataclass(frozen=True)
class ManifoldEntry:
    """One registered manifold: its factory and where it came from."""

    name: str
    factory: Callable
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def source(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return "built-in" if self.plugin == "solvent.builtin" else self.plugin

    # The signature and the options are read on every solvent.manifold(name) call
    # (check_options), and inspect.signature costs a millisecond or more there: both
    # are computed once per entry. An entry is immutable and the registry is rebuilt
    # (new entries) whenever a plugin comes or goes, so the cache never goes stale.
    @functools.cached_property
    def signature(self) -> inspect.Signature | None:
        """The factory's signature, or None where Python cannot tell (a C callable)."""
        try:
            return inspect.signature(self.factory)
        except (TypeError, ValueError):
            return None

    @property
    def options(self) -> dict[str, str] | None:
        """The keyword options the factory accepts, each with its default as text
        (``{"B": "=None"}``; ``""`` for a required one); None where any keyword goes
        (``**kwargs``) or the signature is unknown.

        Example:
            >>> from solvent.plugins.manager import registry
            >>> registry()["sphere"].options
            {'ndim': '=1'}
        """
        options = self._options
        return None if options is None else dict(options)

    @functools.cached_property
    def _options(self) -> dict[str, str] | None:
        sig = self.signature
        if sig is None or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return None
        return {
            name: "" if p.default is p.empty else f"={p.default!r}"
            for name, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    def check_options(self, kwargs: dict) -> None:
        """Raise :class:`ManifoldOptionError` naming the accepted options when the factory
        would refuse ``kwargs`` (an unknown name, a missing required one)."""
        options = self._options
        if options is None:
            return
        unknown = [k for k in kwargs if k not in options]
        missing = [k for k, default in options.items() if default == "" and k not in kwargs]
        if unknown or missing:
            raise ManifoldOptionError(self.name, options, unknown, missing)


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_registry: dict[str, ManifoldEntry] | None = None
_dists: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        where = f"{ep.name!r} ({dist.name} {dist.version})" if dist else repr(ep.name)
        if pm.get_plugin(ep.name) is not None:
            _warn(f"solvent plugin {where} was skipped: the name {ep.name!r} is already taken "
                  f"by {_where(ep.name)}; rename one of the entry points")
            continue
        plugin = None
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            pm.check_pending()  # a misspelled hook name is this plugin's error
        except Exception as err:  # a broken plugin must not break the others
            if plugin is not None and pm.get_plugin(ep.name) is plugin:
                pm.unregister(plugin)
            _warn(f"solvent plugin {where} failed to load: {err!r}")
            continue
        if dist is not None:
            _dists[ep.name] = (dist.name, dist.version)


def _where(plugin_name: str) -> str:
    dist = _dists.get(plugin_name)
    return f"plugin {plugin_name!r}" + (f" ({dist[0]} {dist[1]})" if dist else "")


def _warn(message: str) -> None:
    warnings.warn(PluginLoadWarning(message), stacklevel=4)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use.

    Built-ins come from ``DEFAULT_PLUGINS``; installed plugins from the
    ``solvent`` entry-point group unless ``SOLVENT_DISABLE_PLUGIN_AUTOLOAD=1``.
    """
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager("solvent")
            pm.add_hookspecs(hookspecs)
            for plugin in DEFAULT_PLUGINS:
                pm.register(plugin, name=f"solvent.{plugin.__name__.rsplit('.', 1)[-1]}")
            if not _autoload_disabled():
                _load_entry_points(pm)
            pm.check_pending()
            _pm = pm
        return _pm


def _build_registry(pm: pluggy.PluginManager, strict: object = None) -> dict[str, ManifoldEntry]:
    entries: dict[str, ManifoldEntry] = {}
    for impl in pm.hook.solvent_register_manifolds.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
        staged: dict[str, ManifoldEntry] = {}
        register = _registrar(plugin_name, entries, staged)
        try:  # pluggy lets an implementation take fewer arguments than the spec
            impl.function(**{arg: register for arg in impl.argnames})
        except DuplicateManifoldError:
            raise
        except Exception as err:
            if impl.plugin is strict:  # register_plugin: the caller is right there
                raise
            _warn(f"solvent plugin {plugin_name!r} failed to register: {err!r}")
            continue
        entries.update(staged)
    return entries


def _registrar(plugin_name: str, entries: dict, staged: dict) -> Callable[[str, Callable], None]:
    """The ``register`` callback one plugin receives: it stages into ``staged`` only."""
    dist, version = _dists.get(plugin_name, (None, None))

    def register(name: str, factory: Callable) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"plugin {plugin_name!r} registered an invalid name {name!r}")
        if not callable(factory):
            raise TypeError(f"plugin {plugin_name!r} registered {name!r} with a non-callable")
        new = ManifoldEntry(name, factory, plugin_name, dist, version)
        old = entries.get(name) or staged.get(name)
        if old is not None:
            raise DuplicateManifoldError(name, _describe(old), _describe(new))
        staged[name] = new

    return register


def _describe(entry: ManifoldEntry) -> str:
    return f"plugin {entry.plugin!r} ({entry.source})"


def registry() -> dict[str, ManifoldEntry]:
    """Every registered manifold, by name (built on first use, then cached)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = _build_registry(get_plugin_manager())
        return dict(_registry)


def available() -> list[str]:
    """The sorted names of every registered manifold.

    Example:
        >>> import solvent
        >>> "stiefel" in solvent.manifolds.available()
        True
    """
    return sorted(registry())


def manifold(name, **kwargs):
    """Build a registered manifold by name; a Manifold instance is returned as it is.

    Raises:
        UnknownManifoldError: ``name`` is not registered (the message lists those that are).
        ManifoldOptionError: an option the factory does not take, or a required one
            missing (the message lists the accepted options, from the factory's signature).

    Example:
        >>> import solvent
        >>> solvent.manifold("stiefel").name
        'stiefel'
    """
    from solvent.manifolds.base import Manifold

    if isinstance(name, Manifold):
        if kwargs:
            raise TypeError(
                f"manifold options {sorted(kwargs)} were given with a ready {name!r}; "
                "pass a registered name to build one with options"
            )
        return name
    if not isinstance(name, str):
        raise TypeError(f"a manifold is a registered name or a Manifold, got {type(name).__name__}")
    entries = registry()
    if name not in entries:
        raise UnknownManifoldError(name, entries)
    entry = entries[name]
    entry.check_options(kwargs)  # before the call: its TypeError would not name the options
    return entry.factory(**kwargs)


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object at run time (tests, notebooks); the registry is rebuilt.

    The plugin is checked first: if its hook is misspelled, raises, or
    registers a name that is taken, the error is raised and nothing changes.
    """
    global _registry
    with _lock:
        pm = get_plugin_manager()
        plugin_name = pm.register(plugin, name=name)
        try:
            pm.check_pending()
            new = _build_registry(pm, strict=plugin)
        except Exception:
            pm.unregister(plugin)
            raise
        _registry = new
        return plugin_name


def unregister_plugin(plugin_or_name: object) -> None:
    """Remove a plugin registered with :func:`register_plugin`; the registry is rebuilt."""
    global _registry
    with _lock:
        pm = get_plugin_manager()
        if isinstance(plugin_or_name, str):
            pm.unregister(name=plugin_or_name)
        else:
            pm.unregister(plugin_or_name)
        _registry = None


def reset() -> None:
    """Forget the plugin manager and registry; the next use rebuilds them (rereads entry points)."""
    global _pm, _registry
    with _lock:
        _pm, _registry = None, None
        _dists.clear()
