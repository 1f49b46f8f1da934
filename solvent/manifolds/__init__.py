"""Manifolds: the interface and the built-ins, one per file.

``solvent.plugins`` imports this package to register the built-ins; nothing here
imports the registry at import time, so there is no cycle. Two names reach it lazily,
when called: ``available`` (the registry's list of names, forwarded for convenience)
and ``Product``, which resolves factors given by name through ``solvent.manifold``.
"""

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


def __getattr__(name: str):
    if name == "available":  # the registry's list of names, without an import cycle
        from solvent.plugins.manager import available

        return available
    raise AttributeError(f"module 'solvent.manifolds' has no attribute {name!r}")
