"""``constrain``: constrain any parameter of any module to a manifold.

Invariants of :func:`constrain`, checked before anything changes (so a bad call
leaves the module exactly as it was): the names exist and are floating
Parameters not yet parametrized, beta is finite and >= 0, the manifold takes
every parameter after the shape policy (:mod:`solvent.layers.shapes`), and
every projected weight is within the manifold's tolerance.

Note [tied weights]
~~~~~~~~~~~~~~~~~~~
One Parameter may have several owners (an embedding tied to its decoder).
``constrain`` finds every owner *inside the module it is given* (by object
identity, ``named_parameters(remove_duplicate=False)``) and constrains each
with the same Dissolved: each owner's forward evaluates A(X) (inside
``solvent.cached()`` once for all), the penalty counts the tensor once.
Tying made later (a new owner) is found by ``solvent.violation`` and
``solvent.project_``, which raise naming both owners. An owner outside the
module given to ``constrain`` (and outside the model given to ``violation``)
cannot be seen: constrain the module that holds every owner.

Note [deferred]
~~~~~~~~~~~~~~~
A module built on the meta device (``with torch.device("meta"):``, how large
models are built before FSDP2 shards them) has no values to project. Its
constraint is *deferred*: nothing is computed, ``module.weight`` reads the raw
storage (so an initialiser such as ``reset_parameters()`` writes into X), and
a forward raises until ``solvent.project_(model)`` puts X on its manifold, after
``model.to_empty(device=...)`` and initialisation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from solvent.exceptions import ConstraintError
from solvent.layers.constrained import dissolved_of, install
from solvent.layers.dissolved import Dissolved
from solvent.layers.shapes import matrix_view
from solvent.manifolds.base import Manifold
from solvent.plugins.manager import manifold as _resolve_manifold

__all__ = ["DEFAULT_BETA", "Names", "constrain", "default_names"]

DEFAULT_BETA = 0.1
Names = str | Sequence[str] | Callable[[str], bool] | None


def default_names(module: nn.Module) -> list[str]:
    """The parameter(s) ``constrain`` picks when no name is given.

    ``weight_hh_l*`` (every layer and direction) for RNN/LSTM/GRU, ``weight_hh``
    for cells, ``in_proj_weight`` (or q/k/v_proj_weight) for MultiheadAttention,
    else ``weight``.

    Example:
        >>> default_names(nn.LSTM(3, 4, num_layers=2, bidirectional=True))
        ['weight_hh_l0', 'weight_hh_l0_reverse', 'weight_hh_l1', 'weight_hh_l1_reverse']
    """
    if isinstance(module, nn.RNNBase):
        pattern = re.compile(r"weight_hh_l\d+(_reverse)?")
        return [n for n in module._flat_weights_names if pattern.fullmatch(n)]
    if isinstance(module, nn.RNNCellBase):
        return ["weight_hh"]
    if isinstance(module, nn.MultiheadAttention):
        if module.in_proj_weight is not None or module._qkv_same_embed_dim:
            return ["in_proj_weight"]
        return ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    return ["weight"]


def _owned_names(module: nn.Module) -> list[str]:
    return list(module._parameters)


def _targets(module: nn.Module, name: Names) -> list[tuple[nn.Module, str]]:
    """(owning module, tensor name) pairs; dotted names reach into submodules."""
    if name is None:
        names = default_names(module)
    elif isinstance(name, str):
        names = [name]
    elif callable(name):
        names = [n for n, _ in module.named_parameters() if name(n)]
        if not names:
            raise ConstraintError(f"no parameter of {type(module).__name__} matches {name!r}")
    else:
        names = list(name)
    out = []
    for n in names:
        prefix, _, leaf = n.rpartition(".")
        owner = module.get_submodule(prefix) if prefix else module
        out.append((owner, leaf))
    return out


def _check_target(owner: nn.Module, name: str) -> Tensor:
    where = f"{type(owner).__name__}.{name}"
    if name in dissolved_of(owner):
        raise ConstraintError(
            f"{where} is already constrained; call solvent.unconstrain(module, {name!r}) first"
        )
    if _is_parametrized(owner, name):
        raise ConstraintError(
            f"{where} is parametrized by torch.nn.utils.parametrize; remove its parametrization "
            "first (torch.nn.utils.parametrize.remove_parametrizations)"
        )
    param = owner._parameters.get(name)
    if param is None:
        raise ConstraintError(
            f"{type(owner).__name__} has no parameter {name!r}; its parameters are: "
            f"{', '.join(_owned_names(owner)) or '(none)'}"
        )
    if not (param.is_floating_point() or param.is_complex()):
        raise ConstraintError(f"{where} has dtype {param.dtype}: only floating parameters")
    return param


def constrain(
    module: nn.Module,
    name: Names = None,
    manifold: str | Manifold = "stiefel",
    *,
    beta: float = DEFAULT_BETA,
    transpose: bool | None = None,
    keep_feasible: bool = True,
    **manifold_kwargs: object,
) -> nn.Module:
    """Constrain parameter(s) of ``module`` to a manifold; returns the module.

    The stored tensor becomes the free variable X (initialised to the module's
    own weight projected onto the manifold; for a chart manifold, coordinates
    Z of it, of shape ``M.free_shape``); the module sees A(X), evaluated once
    per forward. Add ``solvent.penalty(model)`` (sum of ``beta`` * 1/2
    ||C(X)||^2) to the loss. Every owner of a tied Parameter inside ``module``
    is constrained with it (Note [tied weights]); a module on the meta device
    is constrained deferred (Note [deferred]).

    Args:
        module: any ``nn.Module``.
        name: a parameter name (dotted names reach submodules), a list of names,
            a predicate on names, or None for :func:`default_names`.
        manifold: a registered name or a Manifold instance.
        beta: the penalty weight, >= 0.
        transpose: force (True) or forbid (False) constraining the transposed
            matrix; None lets the shape policy choose.
        keep_feasible: the feasibility guard: when X has drifted past
            sqrt(tolerance), the forward iterates the map so that the module
            is handed a weight within the manifold's tolerance, and after
            backward X is reset to that weight, whatever beta and whether or
            not the penalty is in the loss. False: the pure penalty method
            (Note [keep feasible] in solvent.layers.guard).
        **manifold_kwargs: options for building the manifold by name.

    Raises:
        ConstraintError: unknown, non-floating or already constrained
            parameter, negative beta, or a shape the manifold cannot take.

    Example:
        >>> import torch, solvent
        >>> rnn = solvent.constrain(torch.nn.RNN(4, 6), beta=0.2)
        >>> sorted(solvent.violation(rnn))
        ['weight_hh_l0']
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"solvent.constrain needs an nn.Module, got {type(module).__name__}; to put a tensor "
            "on a manifold use solvent.manifold(name).project(tensor)"
        )
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
        raise ConstraintError(f"beta must be a finite number >= 0, got {beta!r}")
    M = _resolve_manifold(manifold, **manifold_kwargs)
    plans = []
    for owner, n in _targets(module, name):
        param = _check_target(owner, n)
        plans.append((owner, n, param, matrix_view(owner, n, param.shape, M, transpose)))
    if len({id(p) for *_, p, _ in plans}) != len(plans):
        raise ConstraintError(
            f"a parameter is named twice in {name!r} (by one name, or by two owners of one tied "
            "Parameter): name it once; every owner inside the module is constrained with it"
        )
    _register_all(module, plans, M, beta, keep_feasible)
    return module


def _is_parametrized(owner: nn.Module, name: str) -> bool:
    from torch.nn.utils import parametrize

    return parametrize.is_parametrized(owner, name)


def _owners(module: nn.Module, param: Tensor) -> list[tuple[nn.Module, str]]:
    """Every (module, name) inside ``module`` that holds ``param`` (Note [tied weights])."""
    return [
        (m, n)
        for m in module.modules()
        for n, p in m._parameters.items()
        if p is param
    ]


def _register_all(
    module: nn.Module, plans: list, M: Manifold, beta: float, keep_feasible: bool
) -> None:
    """Register every plan, or none: every check and projection happens before any change.

    Invariant: a weight is never left off its manifold without an error. Each
    projected weight is checked against the manifold's tolerance for its dtype
    before the module is touched (a dtype the manifold cannot handle raises).
    """
    staged = []
    for owner, n, param, view in plans:
        d = Dissolved(M, view, beta, keep_feasible)
        where = f"{type(owner).__name__}.{n}"
        ties = [(m, t) for m, t in _owners(module, param) if (m, t) != (owner, n)]
        for m, t in ties:
            _check_target(m, t)
        if param.is_meta:
            S = _deferred(d, param, where)
        else:
            with torch.no_grad():
                S = d.lift_weight(param.detach(), where)
            _check_feasible(d, S, param, where)
        staged.append((owner, n, param, S, d, ties))
    for owner, n, param, S, d, ties in staged:
        new = _store(param, S)
        for m, t in [(owner, n), *ties]:
            m._parameters[t] = new
            install(m, t, d)


def _deferred(d: Dissolved, param: Tensor, where: str) -> Tensor:
    if d.own_shape:
        raise ConstraintError(
            f"{where} is on the meta device and {d.manifold.name} stores it in another shape "
            f"{d.free_shape}: constrain it after module.to_empty(device=...) and initialisation"
        )
    d.deferred = True
    return param.detach()


def _check_feasible(d: Dissolved, S: Tensor, param: Tensor, where: str) -> None:
    worst = d.violation(S)
    if not worst <= d.tolerance(param.dtype):
        raise ConstraintError(
            f"{where}: projecting the {param.dtype} weight onto {d.manifold.name} left it "
            f"infeasible (violation {worst:.3g}); use a wider dtype (e.g. module.float()) for "
            "this manifold"
        )


def _store(param: nn.Parameter, S: Tensor) -> nn.Parameter:
    """The Parameter that holds S: ``param`` itself, in place, when the shapes agree."""
    if S.shape == param.shape:
        if not param.is_meta:
            with torch.no_grad():
                param.copy_(S)
        return param
    return nn.Parameter(S, requires_grad=param.requires_grad)
