"""Constrain any parameter of any module to a manifold (mechanism only: no manifold is special).

Example:
    >>> import torch, solvent
    >>> lin = solvent.constrain(torch.nn.Linear(8, 4), "weight", "stiefel", beta=0.1)
    >>> loss = lin(torch.randn(2, 8)).sum() + solvent.penalty(lin)
"""

from solvent.layers.api import DEFAULT_BETA, constrain, default_names
from solvent.layers.dissolved import Dissolved, dissolved_of
from solvent.layers.ops import (
    bake,
    constraints,
    is_constrained,
    penalty,
    project_,
    unconstrain,
    violation,
)
from solvent.layers.shapes import GATES, MatrixView, matrix_view

__all__ = [
    "DEFAULT_BETA",
    "GATES",
    "Dissolved",
    "MatrixView",
    "bake",
    "constrain",
    "constraints",
    "default_names",
    "dissolved_of",
    "is_constrained",
    "matrix_view",
    "penalty",
    "project_",
    "unconstrain",
    "violation",
]
