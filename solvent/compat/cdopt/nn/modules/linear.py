"""CDOpt's ``Linear_cdopt`` and ``Bilinear_cdopt``.

``Linear_cdopt`` constrains the weight (out, in) as the tall matrix: W^T when
in >= out, W otherwise. ``Bilinear_cdopt`` views its (out, in1, in2) weight as
CDOpt does: reshaped (not transposed) to (in1*in2, out) when in1*in2 >= out,
else the transpose of its (in1*in2, out) reshape.

Example:
    >>> import torch
    >>> from solvent.compat.cdopt.nn import Linear_cdopt
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> fc = Linear_cdopt(8, 3, manifold_class=stiefel_torch, penalty_param=0.1)
    >>> sorted(fc.state_dict())          # CDOpt's keys, its identity constant included
    ['Ip', 'bias', 'weight']
    >>> W = fc.weight.detach()
    >>> torch.allclose(W @ W.T, torch.eye(3), atol=1e-5)
    True
"""

from __future__ import annotations

import functools

import torch.nn.functional as F
from torch import Tensor, nn

from solvent.compat.cdopt.manifold_torch import euclidean_torch
from solvent.compat.cdopt.nn.modules._layer import CDOptLayer
from solvent.compat.cdopt.nn.modules.utils import wvt_identical, wvt_transp

__all__ = ["Bilinear_cdopt", "Linear_cdopt"]


class Linear_cdopt(CDOptLayer, nn.Linear):
    """:class:`torch.nn.Linear` whose weight is constrained to ``manifold_class``.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import Linear_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> fc = Linear_cdopt(6, 3, manifold_class=stiefel_torch, penalty_param=0.1)
        >>> fc.var_shape, fc(torch.randn(2, 6)).shape    # W^T (6 x 3) is the Stiefel point
        ((6, 3), torch.Size([2, 3]))

    Args:
        in_features, out_features, bias, device, dtype: as for ``nn.Linear``.
        manifold_class: a class of :mod:`~solvent.compat.cdopt.manifold_torch` (Euclidean).
        penalty_param: lambda in ``lambda * ||C||^2`` (see ``get_quad_penalty``).
        manifold_args: keyword arguments of the manifold class.
        forward_with_A: compute with A(W) (True, CDOpt's default) or with W.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None, manifold_class=euclidean_torch, penalty_param: float = 0,
                 manifold_args=None, forward_with_A: bool = True) -> None:  # fmt: skip
        nn.Linear.__init__(self, in_features, out_features, bias, device=device, dtype=dtype)
        wvt = wvt_transp if in_features >= out_features else wvt_identical
        self._cdopt_setup((out_features, in_features), manifold_class, penalty_param, wvt,
                          manifold_args, forward_with_A, persistent=True, device=device,
                          dtype=dtype)  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self._mapped("weight"), self.bias)


def _bilinear_to_var(W: Tensor, var_shape: tuple, transpose: bool) -> Tensor:
    return W.reshape(var_shape[::-1]).T if transpose else W.reshape(var_shape)


def _bilinear_to_weight(X: Tensor, shape: tuple, transpose: bool) -> Tensor:
    return (X.T if transpose else X).reshape(shape)


def _wvt_bilinear(tensor_shape) -> tuple:
    out, in1, in2 = (int(s) for s in tensor_shape)
    transpose = in1 * in2 < out
    var_shape = (out, in1 * in2) if transpose else (in1 * in2, out)
    return (functools.partial(_bilinear_to_var, var_shape=var_shape, transpose=transpose),
            functools.partial(_bilinear_to_weight, shape=(out, in1, in2), transpose=transpose),
            var_shape)  # fmt: skip


class Bilinear_cdopt(CDOptLayer, nn.Bilinear):
    """:class:`torch.nn.Bilinear` whose weight is constrained (CDOpt's view, see the module doc).

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import Bilinear_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> bl = Bilinear_cdopt(3, 4, 5, manifold_class=stiefel_torch)
        >>> bl.var_shape, bl(torch.randn(2, 3), torch.randn(2, 4)).shape
        ((12, 5), torch.Size([2, 5]))
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None, manifold_class=euclidean_torch, penalty_param=0,
                 weight_var_transfer=None, manifold_args=None,
                 forward_with_A: bool = True) -> None:  # fmt: skip
        nn.Bilinear.__init__(self, in1_features, in2_features, out_features, bias,
                             device=device, dtype=dtype)  # fmt: skip
        self._cdopt_setup((out_features, in1_features, in2_features), manifold_class,
                          penalty_param, weight_var_transfer or _wvt_bilinear, manifold_args,
                          forward_with_A, device=device, dtype=dtype)  # fmt: skip

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self._mapped("weight"), self.bias)
