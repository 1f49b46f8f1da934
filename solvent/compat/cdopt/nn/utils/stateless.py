"""CDOpt's ``cdopt.nn.utils.stateless``: call a module, or its penalty, with other parameters.

``functional_call(module, params_and_buffers, args, kwargs=None)`` runs the
module with the given tensors in place of its own (``torch.func.functional_call``);
``get_quad_penalty_call`` evaluates ``get_quad_penalty`` with them, and
``functional_quad_penalty_call`` returns both from one swap. Names follow the
module's ``state_dict``; for a compat layer ``'fc1.weight'`` is the free weight,
mapped by A in the call, as in CDOpt.

Example:
    >>> import torch
    >>> from solvent.compat.cdopt.nn import Linear_cdopt
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> from solvent.compat.cdopt.nn.utils.stateless import functional_quad_penalty_call
    >>> fc = Linear_cdopt(3, 3, manifold_class=stiefel_torch, penalty_param=0.1)
    >>> out, pen = functional_quad_penalty_call(fc, {"weight": 2 * torch.eye(3)}, torch.ones(1, 3))
    >>> round(float(pen), 6)             # 0.1 * ||4 I - I||^2
    2.7
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from solvent.compat.cdopt.nn.modules.utils import get_quad_penalty

__all__ = ["functional_call", "functional_quad_penalty_call", "get_quad_penalty_call"]


class _WithPenalty(nn.Module):
    """Runs the wrapped module and/or its quad penalty, so one functional call swaps for both."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, run: bool, args: tuple, kwargs: dict):
        out = self.module(*args, **kwargs) if run else None
        return out, get_quad_penalty(self.module)


def _args(args) -> tuple:
    return args if isinstance(args, tuple) else (args,)


def functional_call(module: nn.Module, parameters_and_buffers: dict[str, Tensor], args,
                    kwargs: dict[str, Any] | None = None):  # fmt: skip
    """``module(*args, **kwargs)`` with ``parameters_and_buffers`` in place of its own.

    Example:
        >>> import torch
        >>> fc = torch.nn.Linear(2, 1)
        >>> functional_call(fc, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)},
        ...                 torch.tensor([[1.0, 2.0]]))
        tensor([[3.]])
    """
    return torch.func.functional_call(module, parameters_and_buffers, _args(args), kwargs or {})


def _wrapped_call(module, parameters_and_buffers, run, args, kwargs):
    named = {f"module.{k}": v for k, v in parameters_and_buffers.items()}
    return torch.func.functional_call(_WithPenalty(module), named, (run, _args(args), kwargs))


def get_quad_penalty_call(module: nn.Module, parameters_and_buffers: dict[str, Tensor]):
    """``get_quad_penalty(module)`` with ``parameters_and_buffers`` in place of its own.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import Linear_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import sphere_torch
        >>> fc = Linear_cdopt(2, 1, manifold_class=sphere_torch, penalty_param=1.0)
        >>> get_quad_penalty_call(fc, {"weight": torch.tensor([[2.0, 0.0]])})   # (4 - 1)^2
        tensor(9.)
    """
    return _wrapped_call(module, parameters_and_buffers, False, (), {})[1]


def functional_quad_penalty_call(module: nn.Module, parameters_and_buffers: dict[str, Tensor],
                                 args, kwargs: dict[str, Any] | None = None):  # fmt: skip
    """``(module(*args, **kwargs), get_quad_penalty(module))`` with the given tensors.

    Example:
        >>> import torch
        >>> from solvent.compat.cdopt.nn import Linear_cdopt
        >>> from solvent.compat.cdopt.manifold_torch import sphere_torch
        >>> fc = Linear_cdopt(2, 1, bias=False, manifold_class=sphere_torch, penalty_param=1.0)
        >>> out, pen = functional_quad_penalty_call(fc, {"weight": torch.tensor([[1.0, 0.0]])},
        ...                                         torch.tensor([[5.0, 7.0]]))
        >>> out, pen                          # A(X) = X on the sphere; C = 0
        (tensor([[5.]]), tensor(0.))
    """
    return _wrapped_call(module, parameters_and_buffers, True, args, kwargs or {})
