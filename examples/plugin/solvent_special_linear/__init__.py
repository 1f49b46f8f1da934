"""An example solvent plugin: three manifolds, registered through the ``solvent`` entry point.

* ``special_linear``: SL(n) = {X : det X = 1}, given by its constraint alone, so it
  gets solvent's generic Jacobian-based dissolving map;
* ``scaled_sphere``: the sphere of radius r, with its own closed-form map;
* ``simplex``: the open probability simplex, a chart manifold (x = softmax(z)).

Example:
    >>> import torch, solvent
    >>> SL = solvent.manifold("special_linear")
    >>> X = SL.random(3, 3, dtype=torch.float64)
    >>> round(float(torch.linalg.det(X)), 12)
    1.0
"""

from __future__ import annotations

import solvent
from solvent_special_linear.manifolds import ScaledSphere, Simplex, SpecialLinear

__all__ = ["ScaledSphere", "Simplex", "SpecialLinear", "solvent_register_manifolds"]
__version__ = "0.1.0"


@solvent.hookimpl
def solvent_register_manifolds(register) -> None:
    """Register this package's manifolds with solvent."""
    register("special_linear", SpecialLinear)
    register("scaled_sphere", ScaledSphere)
    register("simplex", Simplex)
