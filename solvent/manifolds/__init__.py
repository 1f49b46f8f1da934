"""Manifolds: the interface and the built-ins, one per file."""

from solvent.manifolds.base import Manifold, is_closed_form
from solvent.manifolds.euclidean import Euclidean
from solvent.manifolds.stiefel import Stiefel
from solvent.plugins.manager import available

__all__ = ["Manifold", "Euclidean", "Stiefel", "available", "is_closed_form"]
