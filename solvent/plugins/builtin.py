"""The built-in manifolds, registered through the same hook as any plugin."""

from __future__ import annotations

from solvent.manifolds import (
    SO,
    Euclidean,
    GeneralizedStiefel,
    Grassmann,
    Hyperbolic,
    Lorentz,
    Oblique,
    Product,
    Sphere,
    Stiefel,
    SymplecticStiefel,
)
from solvent.plugins.hookspecs import hookimpl

BUILTINS = (
    Euclidean,
    Stiefel,
    Sphere,
    Oblique,
    Grassmann,
    SO,
    GeneralizedStiefel,
    Hyperbolic,
    Lorentz,
    SymplecticStiefel,
    Product,
)


@hookimpl
def solvent_register_manifolds(register) -> None:
    for cls in BUILTINS:
        register(cls.name, cls)
