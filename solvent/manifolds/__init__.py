"""Manifolds: the interface and the built-ins, one per file."""

from solvent.manifolds.base import Manifold, is_closed_form
from solvent.manifolds.euclidean import Euclidean
from solvent.manifolds.generalized_stiefel import GeneralizedStiefel, ManifoldParameterError
from solvent.manifolds.grassmann import Grassmann
from solvent.manifolds.hyperbolic import Hyperbolic
from solvent.manifolds.lorentz import Lorentz
from solvent.manifolds.oblique import Oblique
from solvent.manifolds.product import Product
from solvent.manifolds.so import SO
from solvent.manifolds.sphere import Sphere
from solvent.manifolds.stiefel import Stiefel
from solvent.manifolds.symplectic_stiefel import SymplecticStiefel
from solvent.plugins.manager import available

__all__ = [
    "SO",
    "Euclidean",
    "GeneralizedStiefel",
    "Grassmann",
    "Hyperbolic",
    "Lorentz",
    "Manifold",
    "ManifoldParameterError",
    "Oblique",
    "Product",
    "Sphere",
    "Stiefel",
    "SymplecticStiefel",
    "available",
    "is_closed_form",
]
