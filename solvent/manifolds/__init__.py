"""Manifolds: the interface and the built-ins, one per file.

This package knows nothing of the plugin registry (``solvent.plugins`` imports
it, never the reverse); ``available`` is forwarded lazily for convenience.
"""

from solvent.manifolds.base import Manifold, is_closed_form
from solvent.manifolds.birkhoff import Birkhoff
from solvent.manifolds.euclidean import Euclidean
from solvent.manifolds.generalized_stiefel import GeneralizedStiefel, ManifoldParameterError
from solvent.manifolds.grassmann import Grassmann
from solvent.manifolds.hyperbolic import Hyperbolic
from solvent.manifolds.invertible import Invertible
from solvent.manifolds.lorentz import Lorentz
from solvent.manifolds.oblique import Oblique
from solvent.manifolds.poincare_ball import PoincareBall
from solvent.manifolds.positive import Positive
from solvent.manifolds.product import Product
from solvent.manifolds.so import SO
from solvent.manifolds.spd import SPD
from solvent.manifolds.sphere import Sphere
from solvent.manifolds.stiefel import Stiefel
from solvent.manifolds.symplectic_stiefel import SymplecticStiefel

__all__ = [
    "SO",
    "SPD",
    "Birkhoff",
    "Euclidean",
    "GeneralizedStiefel",
    "Grassmann",
    "Hyperbolic",
    "Invertible",
    "Lorentz",
    "Manifold",
    "ManifoldParameterError",
    "Oblique",
    "PoincareBall",
    "Positive",
    "Product",
    "Sphere",
    "Stiefel",
    "SymplecticStiefel",
    "available",
    "is_closed_form",
]


def __getattr__(name: str):
    if name == "available":  # the registry's list of names, without an import cycle
        from solvent.plugins.manager import available

        return available
    raise AttributeError(f"module 'solvent.manifolds' has no attribute {name!r}")
