"""The built-in manifolds, registered through the same hook as any plugin."""

from __future__ import annotations

from solvent.manifolds import (
    SO,
    Elliptope,
    Euclidean,
    FixedRank,
    GeneralizedStiefel,
    Grassmann,
    Hyperbolic,
    Lorentz,
    Oblique,
    Product,
    PSDFixedRank,
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
    FixedRank,
    PSDFixedRank,
    Elliptope,
)


@hookimpl
def solvent_register_manifolds(register) -> None:
    for cls in BUILTINS:
        register(cls.name, cls)
