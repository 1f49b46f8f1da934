"""CDOpt 0.5.5's PyTorch and NumPy API on solvent: replace ``cdopt`` by ``solvent.compat.cdopt``.

The module paths are CDOpt's (``.manifold_torch``, ``.manifold_np``,
``.core.problem``, ``.nn``, ``.nn.modules``, ``.nn.utils.set_constraints``,
``.nn.utils.stateless``), so that substituting the package name ports a CDOpt
program; the semantics are CDOpt's too: whole stacked-gate matrices for
LSTM/GRU, CDOpt's conv view, ``penalty_param * ||C||^2`` penalties, ``||C||``
per layer as the violation, torch's parameter names in state dicts. The maths
is solvent's manifolds'. The flat names of earlier solvent releases
(``from solvent.compat.cdopt import RNN_cdopt, stiefel_torch``) still work.
The JAX/Flax parts of CDOpt (``manifold_jax``, ``linen``) are not provided.

Example:
    >>> import torch
    >>> import solvent.compat.cdopt
    >>> M = solvent.compat.cdopt.manifold_torch.stiefel_torch((5, 2))
    >>> pb = solvent.compat.cdopt.core.problem(M, lambda X: X.square().sum(), beta=10)
    >>> isinstance(pb.cdf_fun(pb.Xinit), torch.Tensor)
    True
"""

from solvent.compat.cdopt import core, manifold_np, manifold_torch, nn
from solvent.compat.cdopt.core import problem
from solvent.compat.cdopt.manifold_np import *  # noqa: F403 (flat names, see __all__)
from solvent.compat.cdopt.manifold_torch import *  # noqa: F403
from solvent.compat.cdopt.nn.modules import *  # noqa: F403

__all__ = [
    "core", "manifold_np", "manifold_torch", "nn", "problem",
    *manifold_np.__all__, *manifold_torch.__all__, *nn.modules.__all__,
]  # fmt: skip
