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
from solvent.compat.cdopt.manifold_np import *
from solvent.compat.cdopt.manifold_torch import *
from solvent.compat.cdopt.nn.modules import *

__all__ = [
    "Bilinear_cdopt", "Conv1d_cdopt", "Conv2d_cdopt", "Conv3d_cdopt", "ConvTranspose1d_cdopt",
    "ConvTranspose2d_cdopt", "ConvTranspose3d_cdopt", "GRUCell_cdopt", "GRU_cdopt",
    "LSTMCell_cdopt", "LSTM_cdopt", "Linear_cdopt", "RNNBase_cdopt", "RNNCell_cdopt",
    "RNN_cdopt", "basic_manifold_np", "basic_manifold_torch", "core", "euclidean_np",
    "euclidean_torch", "generalized_stiefel_np", "generalized_stiefel_torch",
    "get_Amapped_params", "get_constraint_violation", "get_constraint_violation_vector",
    "get_named_Amapped_params", "get_named_params_manifolds", "get_params_manifolds",
    "get_quad_penalty", "grassmann_np", "grassmann_torch", "hyperbolic_np", "hyperbolic_torch",
    "manifold_np", "manifold_torch", "nn", "oblique_np", "oblique_torch",
    "parameters_to_vector", "problem", "sphere_np", "sphere_torch", "stiefel_np",
    "stiefel_torch", "symp_stiefel_np", "symp_stiefel_torch", "wvt_flatten2d",
    "wvt_flatten2d_transp", "wvt_identical", "wvt_transp",
]  # fmt: skip
