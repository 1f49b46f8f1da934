"""Operations over every constrained tensor of a model: penalty, violation, projection, removal."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from solvent.exceptions import ConstraintError
from solvent.layers.api import Names, _targets
from solvent.layers.constrained import dissolved_of, uninstall
from solvent.layers.dissolved import Dissolved
from solvent.layers.handover import ATTR, _stored

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

    A tensor tied between several owners is listed once, under its first name.

    Raises:
        ConstraintError: a constrained tensor is also held, unconstrained, by
            another module of ``model`` (tying made after ``constrain``): that
            owner would compute with X (Note [tied weights] in solvent.layers.api).

    Example:
        >>> import torch, solvent
        >>> net = torch.nn.Sequential(solvent.constrain(torch.nn.Linear(2, 3)))
        >>> [q for q, _, _ in constraints(net)]
        ['0.weight']
    """
    _need_module(model, "solvent.constraints")
    found: dict[int, str] = {}
    out = []
    for prefix, mod in model.named_modules(remove_duplicate=True):
        for tname, d in dissolved_of(mod).items():
            X = mod._parameters[tname]
            if id(X) not in found:
                found[id(X)] = q = f"{prefix}.{tname}" if prefix else tname
                out.append((q, d, X))
    _check_untied_owners(model, found)
    yield from out


def _check_untied_owners(model: nn.Module, found: dict[int, str]) -> None:
    for prefix, mod in model.named_modules(remove_duplicate=True):
        table = dissolved_of(mod)
        for tname, p in mod._parameters.items():
            if p is not None and id(p) in found and tname not in table:
                q = f"{prefix}.{tname}" if prefix else tname
                raise ConstraintError(
                    f"{q} holds the constrained tensor {found[id(p)]} without its constraint, so "
                    f"{type(mod).__name__} computes with X, not A(X); tie the weights before "
                    f"constraining, or call solvent.unconstrain on {found[id(p)]} and constrain "
                    "the module that holds both owners"
                )


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
    seen = set()  # a tied tensor is counted once
    for mod in model.modules():  # the hot path: no qualified names built
        table = mod.__dict__.get(ATTR)
        if table is None:
            continue
        for name, d in table.items():
            if d.beta == 0 or id(d) in seen:
                continue
            seen.add(id(d))
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

    A constraint made on the meta device (deferred) is put on its manifold
    here, from whatever the weight was initialised to.

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
    targets = list({(id(o), n): (o, n) for o, n in targets}.values())
    for owner, n in targets:
        if n not in dissolved_of(owner):
            raise ConstraintError(f"{type(owner).__name__}.{n} is not constrained by solvent")
    weights = {}  # id(X) -> the weight the module saw, computed before anything changes
    for owner, n in targets:
        X = _stored(owner, n)
        if id(X) not in weights:
            d = dissolved_of(owner)[n]
            with torch.no_grad():
                weights[id(X)] = (X, d.weight(X) if not d.deferred else X.detach())
    plain: dict[int, nn.Parameter] = {}  # id(X) -> the new Parameter holding its weight
    for owner, n in targets:
        X, W = weights[id(owner._parameters[n])]
        uninstall(owner, n)
        if W.shape == X.shape:
            if W is not X and not X.is_meta:
                with torch.no_grad():
                    X.copy_(W)
        else:  # a chart's coordinates of another shape: a new Parameter holds the weight
            new = plain.setdefault(id(X), nn.Parameter(W.clone(), requires_grad=X.requires_grad))
            owner._parameters[n] = new
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
    targets = [
        f"{prefix}.{n}" if prefix else n
        for prefix, m in model.named_modules()
        for n in dissolved_of(m)
    ]
    if targets:
        unconstrain(model, list(dict.fromkeys(targets)))
    return model
