"""CDOpt's convolution layers: ``Conv{1,2,3}d_cdopt`` and ``ConvTranspose{1,2,3}d_cdopt``.

CDOpt constrains a conv weight (out, in, *k) as the (out * prod(k), in) matrix
(:func:`~solvent.compat.cdopt.nn.modules.utils.wvt_flatten2d`) and a transposed
conv weight (in, out, *k) as the (out * prod(k), in) matrix
(:func:`~solvent.compat.cdopt.nn.modules.utils.wvt_flatten2d_transp`); pass
``weight_var_transfer=`` to choose another view. (solvent's own ``constrain``
views a weight as (out, in * prod(k)) instead.)

Example:
    >>> import torch
    >>> from solvent.compat.cdopt.nn.modules import Conv2d_cdopt
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> conv = Conv2d_cdopt(1, 6, 5, manifold_class=stiefel_torch, penalty_param=0.05)
    >>> conv.var_shape, conv(torch.randn(2, 1, 28, 28)).shape
    ((150, 1), torch.Size([2, 6, 24, 24]))
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from solvent.compat.cdopt.manifold_torch import euclidean_torch
from solvent.compat.cdopt.nn.modules._layer import CDOptLayer
from solvent.compat.cdopt.nn.modules.utils import wvt_flatten2d, wvt_flatten2d_transp

__all__ = [
    "Conv1d_cdopt", "Conv2d_cdopt", "Conv3d_cdopt",
    "ConvTranspose1d_cdopt", "ConvTranspose2d_cdopt", "ConvTranspose3d_cdopt",
]  # fmt: skip


class _ConvCDOpt(CDOptLayer):
    """The shared constructor: the torch conv's arguments, then CDOpt's."""

    _default_wvt = staticmethod(wvt_flatten2d)

    def __init__(self, *args, manifold_class=euclidean_torch, penalty_param=0,
                 weight_var_transfer=None, manifold_args=None, forward_with_A: bool = True,
                 **kwargs) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self._cdopt_setup(tuple(self.weight.shape), manifold_class, penalty_param,
                          weight_var_transfer or self._default_wvt, manifold_args,
                          forward_with_A, device=kwargs.get("device"),
                          dtype=kwargs.get("dtype"))  # fmt: skip


class _Conv(_ConvCDOpt):
    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self._mapped("weight"), self.bias)


class _ConvTranspose(_ConvCDOpt):
    _default_wvt = staticmethod(wvt_flatten2d_transp)
    _functional = None

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        if self.padding_mode != "zeros":
            raise ValueError(f"Only 'zeros' padding mode is supported for {type(self).__name__}")
        dims = len(self.kernel_size)
        output_padding = self._output_padding(input, output_size, self.stride, self.padding,
                                              self.kernel_size, dims, self.dilation)  # fmt: skip
        return type(self)._functional(input, self._mapped("weight"), self.bias, self.stride,
                                      self.padding, output_padding, self.groups, self.dilation)


_EXAMPLE = """

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import {name}
        >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
        >>> layer = {name}(2, 3, 2, manifold_class=stiefel_torch, penalty_param=0.1)
        >>> layer.var_shape, layer(torch.randn({shape})).dim()
        ({var_shape}, {dim})
"""


def _conv_class(name: str, mixin: type, base: type, functional=None) -> type:
    d = int(name[name.index("d_cdopt") - 1])  # Conv2d_cdopt -> 2
    doc = (f"CDOpt's ``{name}``: :class:`torch.nn.{base.__name__}` with its weight constrained "
           "to ``manifold_class`` (CDOpt's view of the weight, see the module doc)."
           + _EXAMPLE.format(name=name, shape=", ".join(["1", "2"] + ["4"] * d),
                             var_shape=(3 * 2**d, 2), dim=d + 2))  # fmt: skip
    body = {"__doc__": doc, "__module__": __name__, "__qualname__": name}
    if functional is not None:
        body["_functional"] = staticmethod(functional)
    return type(name, (mixin, base), body)


Conv1d_cdopt = _conv_class("Conv1d_cdopt", _Conv, nn.Conv1d)
Conv2d_cdopt = _conv_class("Conv2d_cdopt", _Conv, nn.Conv2d)
Conv3d_cdopt = _conv_class("Conv3d_cdopt", _Conv, nn.Conv3d)
ConvTranspose1d_cdopt = _conv_class(
    "ConvTranspose1d_cdopt", _ConvTranspose, nn.ConvTranspose1d, F.conv_transpose1d
)
ConvTranspose2d_cdopt = _conv_class(
    "ConvTranspose2d_cdopt", _ConvTranspose, nn.ConvTranspose2d, F.conv_transpose2d
)
ConvTranspose3d_cdopt = _conv_class(
    "ConvTranspose3d_cdopt", _ConvTranspose, nn.ConvTranspose3d, F.conv_transpose3d
)
