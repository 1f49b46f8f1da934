"""What every CDOpt layer adds to its torch layer.

CDOpt's layers keep each constrained weight as a plain parameter W (so state
dicts have torch's keys) and apply the manifold's map inline in ``forward``:
the layer computes with ``var_to_weight(A(weight_to_var(W)))``. Its
``quad_penalty()`` is ``||C||_F^2`` summed over the constrained weights and
``get_quad_penalty`` multiplies it by ``penalty_param``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.compat.cdopt.manifold_torch import euclidean_torch

__all__ = ["CDOptLayer"]


class CDOptLayer:
    """Mixin placed before a torch layer class; ``_cdopt_weights`` names the constrained weights."""

    _cdopt_weights: tuple[str, ...] = ("weight",)

    def _cdopt_setup(self, var_source, manifold_class, penalty_param, weight_var_transfer,
                     manifold_args, forward_with_A=True, persistent=False, device=None,
                     dtype=None) -> None:  # fmt: skip
        """Build the manifold for the variable of shape ``weight_var_transfer(var_source)``.

        CDOpt keeps the manifold's constant tensors (an identity ``Ip``, say) as
        buffers of the layer, in the state dict only for ``Linear_cdopt``
        (``persistent``), so its checkpoints carry the same keys.
        """
        self.manifold_class = manifold_class or euclidean_torch
        self.manifold_args = dict(manifold_args or {})
        self.penalty_param = penalty_param
        self.forward_with_A = forward_with_A
        self.weight_to_var, self.var_to_weight, self.var_shape = weight_var_transfer(var_source)
        self.manifold = self.manifold_class(self.var_shape, device=device, dtype=dtype,
                                            **self.manifold_args)  # fmt: skip
        for key, value in self.manifold._parameters.items():
            self.register_buffer(key, value, persistent=persistent)
        for name in self._cdopt_weights:  # a weight the manifold cannot take fails here, once
            self.manifold.manifold.check_shape(self.weight_to_var(getattr(self, name)).shape)
        self._cdopt_init_weights()

    def _cdopt_init_weights(self) -> None:
        """Move each constrained weight onto the manifold (CDOpt's ``Init_point`` of it)."""
        with torch.no_grad():
            for name in self._cdopt_weights:
                W = getattr(self, name)
                X = self.manifold.Init_point(self.weight_to_var(W)).to(W.dtype)
                W.copy_(self.var_to_weight(X))

    def reset_parameters(self) -> None:
        """The torch layer's initialisation, then the constrained weights moved onto M."""
        super().reset_parameters()
        if "manifold" in self.__dict__:
            self._cdopt_init_weights()

    def A(self, weight: Tensor) -> Tensor:
        """The weight the layer computes with: ``var_to_weight(A(weight_to_var(weight)))``."""
        return self.var_to_weight(self.manifold.A(self.weight_to_var(weight)))

    def C(self, weight: Tensor) -> Tensor:
        """The constraint of a weight's variable."""
        return self.manifold.C(self.weight_to_var(weight))

    def _mapped(self, name: str) -> Tensor:
        W = getattr(self, name)
        return self.A(W) if self.forward_with_A else W

    def quad_penalty(self) -> Tensor:
        """``||C||_F^2`` summed over the constrained weights (CDOpt's; times penalty_param
        in :func:`get_quad_penalty`)."""
        return sum(self.C(getattr(self, n)).square().sum() for n in self._cdopt_weights)

    def feasibility(self) -> Tensor:
        """``sqrt(quad_penalty())``: the layer's violation ``||C||_F``."""
        return self.quad_penalty().sqrt()

