"""Operations over every constrained tensor of a model: penalty, violation, projection, removal."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from solvent.exceptions import ConstraintError
from solvent.layers.api import Names, _targets
from solvent.layers.dissolved import ATTR, Dissolved, dissolved_of, uninstall

__all__ = [
    "bake",
    "constraints",
    "is_constrained",
    "penalty",
    "project_",
    "unconstrain",
    "violation",
]


def constraints(model: nn.Module) -> Iterator[tuple[str, Dissolved, Tensor]]:
    """Every constrained tensor of ``model``: (qualified name, its ``Dissolved``, X).

    Example:
        >>> import torch, solvent
        >>> net = torch.nn.Sequential(solvent.constrain(torch.nn.Linear(2, 3)))
        >>> [q for q, _, _ in constraints(net)]
        ['0.weight']
    """
    _need_module(model, "solvent.constraints")
    for prefix, mod in model.named_modules(remove_duplicate=True):
        for tname, d in dissolved_of(mod).items():
            yield (f"{prefix}.{tname}" if prefix else tname), d, mod._parameters[tname]


def _need_module(model: object, what: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{what} needs an nn.Module (the model), got {type(model).__name__}")


def penalty(model: nn.Module) -> Tensor:
    """Sum over constrained tensors of ``beta * 1/2 ||C(X)||^2``: a scalar to add to the loss.

    Reuses the C(X) computed by the latest forward where valid. Zero (on the
    model's device and dtype) when nothing is constrained.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.constrain(torch.nn.Linear(3, 4), beta=1.0)
        >>> float(solvent.penalty(lin).detach()) < 1e-10
        True
    """
    _need_module(model, "solvent.penalty")
    total = None
    for mod in model.modules():  # the hot path: no qualified names built
        table = mod.__dict__.get(ATTR)
        if table is None:
            continue
        for name, d in table.items():
            if d.beta == 0:
                continue
            term = d.beta * d.penalty(mod._parameters[name])
            total = term if total is None else total + term
    if total is not None:
        return total
    ref = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = ref.dtype if ref is not None else torch.get_default_dtype()
    return torch.zeros((), dtype=dtype, device=ref.device if ref is not None else None)


def violation(model: nn.Module) -> dict[str, float]:
    """{qualified name: worst ||C(X)||_F over the tensor's points} for every constrained tensor.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.constrain(torch.nn.Linear(3, 4).double())
        >>> solvent.violation(lin)["weight"] < 1e-12
        True
    """
    _need_module(model, "solvent.violation")
    return {q: d.violation(X) for q, d, X in constraints(model)}


def project_(model: nn.Module) -> nn.Module:
    """Snap every constrained X onto its manifold, in place and without autograd.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.constrain(torch.nn.Linear(3, 4).double())
        >>> with torch.no_grad():
        ...     _ = lin._parameters["weight"].add_(0.1)
        >>> solvent.violation(solvent.project_(lin))["weight"] < 1e-12
        True
    """
    for q, d, X in constraints(model):
        d.project_(X, q)
    return model


def is_constrained(module: nn.Module, name: str | None = None) -> bool:
    """Whether ``module`` (or a submodule) has a solvent constraint; on tensor ``name`` if given.

    Example:
        >>> import torch, solvent
        >>> solvent.is_constrained(solvent.constrain(torch.nn.Linear(3, 4)), "weight")
        True
    """
    if name is None:
        return any(True for _ in constraints(module))
    owner, leaf = _targets(module, name)[0]
    return leaf in dissolved_of(owner)


def unconstrain(module: nn.Module, name: Names = None) -> nn.Module:
    """Remove constraints from ``module``'s tensors, keeping the weight the module saw.

    The Parameter (X) is overwritten in place by A(X), the weight the module
    saw (equal to X on the manifold), so an optimizer holding it keeps working.
    ``name=None`` removes every constraint of ``module`` itself.

    Example:
        >>> import torch, solvent
        >>> lin = solvent.unconstrain(solvent.constrain(torch.nn.Linear(3, 4)))
        >>> type(lin).__name__, type(lin.weight).__name__
        ('Linear', 'Parameter')
    """
    if name is None:
        targets = [(module, n) for n in dissolved_of(module)]
    else:
        targets = _targets(module, name)
    for owner, n in targets:
        if n not in dissolved_of(owner):
            raise ConstraintError(f"{type(owner).__name__}.{n} is not constrained by solvent")
        X = owner._parameters[n]
        d = uninstall(owner, n)
        with torch.no_grad():
            X.copy_(d.evaluate(X)[0])
    return module


def bake(model: nn.Module) -> nn.Module:
    """Remove every constraint in ``model``, leaving plain Parameters holding A(X).

    A baked model has no overhead at inference and its state_dict loads into
    the plain architecture.

    Example:
        >>> import torch, solvent
        >>> net = torch.nn.Sequential(solvent.constrain(torch.nn.Linear(3, 4)))
        >>> sorted(solvent.bake(net).state_dict())
        ['0.bias', '0.weight']
    """
    owners = [m for m in model.modules() if dissolved_of(m)]
    for m in owners:
        unconstrain(m)
    return model
