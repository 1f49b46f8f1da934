"""CDOpt's recurrent layers: ``RNN_cdopt``, ``LSTM_cdopt``, ``GRU_cdopt`` and their cells.

CDOpt constrains every hidden-to-hidden weight ``weight_hh_l*`` (``weight_hh``
for a cell) as one whole matrix: for an LSTM the stacked (4h, h) matrix of its
four gates, for a GRU the (3h, h) one, so ``X^T X = I_h`` holds for the stack,
not for each gate. (solvent's own ``constrain`` constrains each gate block.)
The input-to-hidden weights stay free. The map is applied in ``forward`` to the
weights torch's kernels receive; the parameters keep torch's names.

Example:
    >>> import torch
    >>> from solvent.compat.cdopt.nn import LSTM_cdopt, get_constraint_violation
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> lstm = LSTM_cdopt(3, 4, manifold_class=stiefel_torch, penalty_param=0.1)
    >>> W = lstm.weight_hh_l0.detach()                    # (16, 4): all four gates
    >>> torch.allclose(W.T @ W, torch.eye(4), atol=1e-5)
    True
    >>> lstm(torch.randn(5, 2, 3))[0].shape
    torch.Size([5, 2, 4])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from solvent.compat.cdopt.manifold_torch import euclidean_torch
from solvent.compat.cdopt.nn.modules._layer import CDOptLayer
from solvent.compat.cdopt.nn.modules.utils import wvt_identical

__all__ = [
    "GRUCell_cdopt", "GRU_cdopt", "LSTMCell_cdopt", "LSTM_cdopt", "RNNBase_cdopt",
    "RNNCell_cdopt", "RNN_cdopt",
]  # fmt: skip


class _RecurrentCDOpt(CDOptLayer):
    """The sequence layers: the constrained weights replace torch's for one forward."""

    def __init__(self, *args, manifold_class=euclidean_torch, penalty_param=0,
                 weight_var_transfer=wvt_identical, manifold_args=None,
                 **kwargs) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self._cdopt_weights = tuple(n for n in self._flat_weights_names
                                    if n.startswith("weight_hh_l"))  # fmt: skip
        h = self.hidden_size
        self._cdopt_setup((h, h), manifold_class, penalty_param, weight_var_transfer,
                          manifold_args, device=kwargs.get("device"),
                          dtype=kwargs.get("dtype"))  # fmt: skip

    def forward(self, input, hx=None):
        # torch's RNNs read the weight list self._flat_weights; refresh it (after a
        # functional_call it may be stale), swap in the mapped weights for this call.
        update = getattr(self, "_update_flat_weights", None)
        if update is not None:
            update()
        free = self._flat_weights
        self._flat_weights = [
            self._mapped(n) if n in self._cdopt_weights else w
            for n, w in zip(self._flat_weights_names, free)
        ]
        try:
            return super().forward(input, hx)
        finally:
            self._flat_weights = free


_EXAMPLE = """

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import {name}
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> layer = {name}(3, 4, manifold_class=stiefel_torch, penalty_param=0.1)
        >>> layer._cdopt_weights, layer(torch.randn(5, 2, 3))[0].shape
        (('weight_hh_l0',), torch.Size([5, 2, 4]))
"""


def _rnn_class(name: str, base: type) -> type:
    doc = (f"CDOpt's ``{name}``: :class:`torch.nn.{base.__name__}` with each ``weight_hh_l*`` "
           "constrained as one whole matrix to ``manifold_class`` (see the module doc).")
    if base is not nn.RNNBase:
        doc += _EXAMPLE.format(name=name)
    return type(name, (_RecurrentCDOpt, base),
                {"__doc__": doc, "__module__": __name__, "__qualname__": name})  # fmt: skip


RNNBase_cdopt = _rnn_class("RNNBase_cdopt", nn.RNNBase)
RNN_cdopt = _rnn_class("RNN_cdopt", nn.RNN)
LSTM_cdopt = _rnn_class("LSTM_cdopt", nn.LSTM)
GRU_cdopt = _rnn_class("GRU_cdopt", nn.GRU)


class _CellCDOpt(CDOptLayer):
    """The cells: ``weight_hh`` (chunks * h, h) constrained whole."""

    _cdopt_weights = ("weight_hh",)
    _pair = False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *args,
                 manifold_class=euclidean_torch, penalty_param=0, manifold_args=None,
                 **kwargs) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, *args, **kwargs)
        self._cdopt_setup(tuple(self.weight_hh.shape), manifold_class, penalty_param,
                          wvt_identical, manifold_args, device=kwargs.get("device"),
                          dtype=kwargs.get("dtype"))  # fmt: skip

    def _cell(self, input: Tensor, hx):
        raise NotImplementedError

    def forward(self, input: Tensor, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: expected a 1D or 2D input, "
                             f"got {input.dim()}D")  # fmt: skip
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            hx = (zeros, zeros) if self._pair else zeros
        elif not batched:
            hx = tuple(h.unsqueeze(0) for h in hx) if self._pair else hx.unsqueeze(0)
        out = self._cell(x, hx)
        if not batched:
            out = tuple(o.squeeze(0) for o in out) if self._pair else out.squeeze(0)
        return out

    def _weights(self) -> tuple:
        return self.weight_ih, self._mapped("weight_hh"), self.bias_ih, self.bias_hh


class RNNCell_cdopt(_CellCDOpt, nn.RNNCell):
    """CDOpt's ``RNNCell_cdopt``: :class:`torch.nn.RNNCell` with ``weight_hh`` constrained.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import RNNCell_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> RNNCell_cdopt(3, 4, manifold_class=stiefel_torch)(torch.randn(2, 3)).shape
        torch.Size([2, 4])
    """

    def _cell(self, x: Tensor, hx: Tensor) -> Tensor:
        fn = torch.rnn_tanh_cell if self.nonlinearity == "tanh" else torch.rnn_relu_cell
        return fn(x, hx, *self._weights())


class LSTMCell_cdopt(_CellCDOpt, nn.LSTMCell):
    """CDOpt's ``LSTMCell_cdopt``: :class:`torch.nn.LSTMCell`, (4h, h) ``weight_hh`` constrained.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import LSTMCell_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> cell = LSTMCell_cdopt(1, 51, manifold_class=stiefel_torch, penalty_param=0.01)
        >>> cell.var_shape, [t.shape for t in cell(torch.randn(2, 1))]
        ((204, 51), [torch.Size([2, 51]), torch.Size([2, 51])])
    """

    _pair = True

    def _cell(self, x: Tensor, hx: tuple) -> tuple:
        return torch.lstm_cell(x, hx, *self._weights())


class GRUCell_cdopt(_CellCDOpt, nn.GRUCell):
    """CDOpt's ``GRUCell_cdopt``: :class:`torch.nn.GRUCell`, its (3h, h) ``weight_hh`` constrained.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import GRUCell_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> GRUCell_cdopt(3, 4, manifold_class=stiefel_torch).var_shape
        (12, 4)
    """

    def _cell(self, x: Tensor, hx: Tensor) -> Tensor:
        return torch.gru_cell(x, hx, *self._weights())
