"""The built-in manifolds, registered through the same hook as any plugin."""

from __future__ import annotations

from solvent.manifolds import (
    SO,
    SPD,
    Birkhoff,
    Euclidean,
    GeneralizedStiefel,
    Grassmann,
    Hyperbolic,
    Invertible,
    Lorentz,
    Oblique,
    PoincareBall,
    Positive,
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
    Positive,
    SPD,
    Invertible,
    PoincareBall,
    Birkhoff,
)


@hookimpl
def solvent_register_manifolds(register) -> None:
    for cls in BUILTINS:
        register(cls.name, cls)
