"""The built-in manifolds, registered through the same hook as any plugin."""

from __future__ import annotations

from solvent.plugins.hookspecs import hookimpl

BUILTINS: dict[str, str] = {
    # registry name -> "module:Class" under solvent.manifolds
    "euclidean": "euclidean:Euclidean",
    "stiefel": "stiefel:Stiefel",
    "sphere": "sphere:Sphere",
    "oblique": "oblique:Oblique",
    "grassmann": "grassmann:Grassmann",
    "so": "so:SO",
    "generalized_stiefel": "generalized_stiefel:GeneralizedStiefel",
    "hyperbolic": "hyperbolic:Hyperbolic",
    "lorentz": "lorentz:Lorentz",
    "symplectic_stiefel": "symplectic_stiefel:SymplecticStiefel",
    "product": "product:Product",
}


@hookimpl
def solvent_register_manifolds(register) -> None:
    import importlib

    for name, target in BUILTINS.items():
        module, cls = target.split(":")
        register(name, getattr(importlib.import_module(f"solvent.manifolds.{module}"), cls))
