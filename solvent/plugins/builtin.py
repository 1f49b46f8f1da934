"""The built-in manifolds, registered through the same hook as any plugin."""

from __future__ import annotations

from collections.abc import Sequence

from solvent.manifolds import (
    SO,
    SPD,
    Birkhoff,
    ComplexCircle,
    Elliptope,
    Euclidean,
    FixedRank,
    GeneralizedStiefel,
    Grassmann,
    Hyperbolic,
    Invertible,
    Lorentz,
    Manifold,
    Oblique,
    PoincareBall,
    Positive,
    Product,
    PSDFixedRank,
    Skew,
    Sphere,
    SphereSubspace,
    Stiefel,
    Symmetric,
    SymplecticStiefel,
)
from solvent.plugins.hookspecs import hookimpl


def product(manifolds: Sequence[str | Manifold] = ("sphere", "stiefel")) -> Product:
    """The product of ``manifolds``, given as registered names or Manifold instances.

    Names are resolved here, in the registry, so ``solvent.manifolds`` never
    imports it. The default pair is only an example for the conformance kit.

    Example:
        >>> import solvent
        >>> solvent.manifold("product", manifolds=("sphere", "stiefel"))
        Product(Sphere(ndim=1), Stiefel(name='stiefel'))
    """
    from solvent.plugins.manager import manifold

    if isinstance(manifolds, (str, Manifold)):
        raise TypeError(
            f"product needs a sequence of manifolds, got {manifolds!r}; "
            f"write manifolds=({manifolds!r},) for one factor"
        )
    return Product(tuple(manifold(M) for M in manifolds))


# name -> factory: a Manifold class, or a function that resolves its options.
BUILTINS = {
    "euclidean": Euclidean,
    "stiefel": Stiefel,
    "sphere": Sphere,
    "oblique": Oblique,
    "grassmann": Grassmann,
    "so": SO,
    "generalized_stiefel": GeneralizedStiefel,
    "hyperbolic": Hyperbolic,
    "lorentz": Lorentz,
    "symplectic_stiefel": SymplecticStiefel,
    "product": product,
    "symmetric": Symmetric,
    "skew": Skew,
    "complex_circle": ComplexCircle,
    "sphere_subspace": SphereSubspace,
    "fixed_rank": FixedRank,
    "psd_fixed_rank": PSDFixedRank,
    "elliptope": Elliptope,
    "positive": Positive,
    "spd": SPD,
    "invertible": Invertible,
    "poincare_ball": PoincareBall,
    "birkhoff": Birkhoff,
}


@hookimpl
def solvent_register_manifolds(register) -> None:
    for name, factory in BUILTINS.items():
        register(name, factory)
