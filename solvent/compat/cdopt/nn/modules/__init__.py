"""CDOpt's ``cdopt.nn.modules``: the constrained layers and the penalty helpers.

Example:
    >>> from solvent.compat.cdopt.nn.modules import Linear_cdopt, Conv2d_cdopt, get_quad_penalty
    >>> Linear_cdopt.__mro__[2].__name__
    'Linear'
"""

from solvent.compat.cdopt.nn.modules.conv import (
    Conv1d_cdopt,
    Conv2d_cdopt,
    Conv3d_cdopt,
    ConvTranspose1d_cdopt,
    ConvTranspose2d_cdopt,
    ConvTranspose3d_cdopt,
)
from solvent.compat.cdopt.nn.modules.linear import Bilinear_cdopt, Linear_cdopt
from solvent.compat.cdopt.nn.modules.rnn import (
    GRU_cdopt,
    GRUCell_cdopt,
    LSTM_cdopt,
    LSTMCell_cdopt,
    RNN_cdopt,
    RNNBase_cdopt,
    RNNCell_cdopt,
)
from solvent.compat.cdopt.nn.modules.utils import (
    get_Amapped_params,
    get_constraint_violation,
    get_constraint_violation_vector,
    get_named_Amapped_params,
    get_named_params_manifolds,
    get_params_manifolds,
    get_quad_penalty,
    parameters_to_vector,
    wvt_flatten2d,
    wvt_flatten2d_transp,
    wvt_identical,
    wvt_transp,
)

__all__ = [
    "Bilinear_cdopt", "Conv1d_cdopt", "Conv2d_cdopt", "Conv3d_cdopt", "ConvTranspose1d_cdopt",
    "ConvTranspose2d_cdopt", "ConvTranspose3d_cdopt", "GRUCell_cdopt", "GRU_cdopt",
    "LSTMCell_cdopt", "LSTM_cdopt", "Linear_cdopt", "RNNBase_cdopt", "RNNCell_cdopt", "RNN_cdopt",
    "get_Amapped_params", "get_constraint_violation", "get_constraint_violation_vector",
    "get_named_Amapped_params", "get_named_params_manifolds", "get_params_manifolds",
    "get_quad_penalty", "parameters_to_vector", "wvt_flatten2d", "wvt_flatten2d_transp",
    "wvt_identical", "wvt_transp",
]  # fmt: skip
