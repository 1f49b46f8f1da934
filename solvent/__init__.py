"""solvent: optimization under manifold constraints by constraint dissolving.

Example:
    >>> import torch, solvent
    >>> St = solvent.manifold("stiefel")
    >>> X = St.random(5, 2, dtype=torch.float64)
    >>> float(St.violation(X)) < 1e-12
    True
"""

from solvent import layers, manifolds, optim, plugins
from solvent._version import __version__
from solvent.exceptions import (
    ConstraintError,
    ConstraintShapeError,
    DuplicateManifoldError,
    ManifoldDtypeError,
    ManifoldShapeError,
    NonFiniteError,
    ObjectiveError,
    ProjectionError,
    SolventError,
    SolverOptionError,
    UnknownManifoldError,
)
from solvent.layers import (
    bake,
    cached,
    constrain,
    is_constrained,
    penalty,
    project_,
    unconstrain,
    violation,
)
from solvent.manifolds.base import ChartManifold, Manifold
from solvent.plugins import hookimpl
from solvent.plugins.manager import available, manifold

__all__ = [
    "__version__",
    "ChartManifold",
    "ConstraintError",
    "ConstraintShapeError",
    "DuplicateManifoldError",
    "Manifold",
    "ManifoldDtypeError",
    "ManifoldShapeError",
    "NonFiniteError",
    "ObjectiveError",
    "ProjectionError",
    "SolventError",
    "SolverOptionError",
    "UnknownManifoldError",
    "available",
    "bake",
    "cached",
    "constrain",
    "hookimpl",
    "is_constrained",
    "layers",
    "manifold",
    "manifolds",
    "optim",
    "penalty",
    "plugins",
    "project_",
    "unconstrain",
    "violation",
]
