"""Manifolds: the interface and the built-ins, one per file.

``solvent.plugins`` imports this package to register the built-ins; nothing here
imports the registry at import time, so there is no cycle. Two names reach it lazily,
when called: ``available`` (the registry's list of names, forwarded for convenience)
and ``Product``, which resolves factors given by name through ``solvent.manifold``.
"""

from solvent.manifolds.base import ChartManifold, Manifold, is_closed_form
from solvent.manifolds.birkhoff import Birkhoff
from solvent.manifolds.complex_circle import ComplexCircle
from solvent.manifolds.elliptope import Elliptope
from solvent.manifolds.euclidean import Euclidean
from solvent.manifolds.fixed_rank import FixedRank
from solvent.manifolds.generalized_stiefel import GeneralizedStiefel, ManifoldParameterError
from solvent.manifolds.grassmann import Grassmann
from solvent.manifolds.hyperbolic import Hyperbolic
from solvent.manifolds.invertible import Invertible
from solvent.manifolds.lorentz import Lorentz
from solvent.manifolds.oblique import Oblique
from solvent.manifolds.poincare_ball import PoincareBall
from solvent.manifolds.positive import Positive
from solvent.manifolds.product import Product
from solvent.manifolds.psd_fixed_rank import PSDFixedRank
from solvent.manifolds.skew import Skew
from solvent.manifolds.so import SO
from solvent.manifolds.spd import SPD
from solvent.manifolds.sphere import Sphere
from solvent.manifolds.sphere_subspace import SphereSubspace
from solvent.manifolds.stiefel import Stiefel
from solvent.manifolds.symmetric import Symmetric
from solvent.manifolds.symplectic_stiefel import SymplecticStiefel

__all__ = [
    "SO",
    "SPD",
    "Birkhoff",
    "ChartManifold",
    "ComplexCircle",
    "Elliptope",
    "Euclidean",
    "FixedRank",
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
    "PSDFixedRank",
    "Product",
    "Skew",
    "Sphere",
    "SphereSubspace",
    "Stiefel",
    "Symmetric",
    "SymplecticStiefel",
    "available",
    "is_closed_form",
]


def __getattr__(name: str):
    if name == "available":  # the registry's list of names, without an import cycle
        from solvent.plugins.manager import available

        return available
    raise AttributeError(f"module 'solvent.manifolds' has no attribute {name!r}")
