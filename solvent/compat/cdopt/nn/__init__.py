"""CDOpt's ``cdopt.nn``: the layers of :mod:`.modules` and the helpers of :mod:`.utils`.

Unlike ``torch.nn`` this namespace holds only CDOpt's names: ``cdopt.nn.Linear``
does not exist here either.

Example:
    >>> import solvent.compat.cdopt
    >>> fc = solvent.compat.cdopt.nn.Linear_cdopt(4, 2)
    >>> fc.manifold.name, fc.penalty_param
    ('euclidean_torch', 0)
"""

from solvent.compat.cdopt.nn import modules, utils
from solvent.compat.cdopt.nn.modules import *

__all__ = [
    "Bilinear_cdopt", "Conv1d_cdopt", "Conv2d_cdopt", "Conv3d_cdopt", "ConvTranspose1d_cdopt",
    "ConvTranspose2d_cdopt", "ConvTranspose3d_cdopt", "GRUCell_cdopt", "GRU_cdopt",
    "LSTMCell_cdopt", "LSTM_cdopt", "Linear_cdopt", "RNNBase_cdopt", "RNNCell_cdopt",
    "RNN_cdopt", "get_Amapped_params", "get_constraint_violation",
    "get_constraint_violation_vector", "get_named_Amapped_params", "get_named_params_manifolds",
    "get_params_manifolds", "get_quad_penalty", "modules", "parameters_to_vector", "utils",
    "wvt_flatten2d", "wvt_flatten2d_transp", "wvt_identical", "wvt_transp",
]  # fmt: skip
