"""Plugins: the hook, the plugin manager and the manifold registry."""

from solvent.plugins.hookspecs import hookimpl, hookspec
from solvent.plugins.manager import (
    DEFAULT_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    ManifoldEntry,
    available,
    get_plugin_manager,
    manifold,
    register_plugin,
    registry,
    reset,
    unregister_plugin,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "ManifoldEntry",
    "available",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "manifold",
    "register_plugin",
    "registry",
    "reset",
    "unregister_plugin",
]
