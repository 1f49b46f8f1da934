"""Small exception classes that format their own messages (geotorch style).

Each names what was wrong, both sides of a mismatch where there are two, and
the way out.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "SolventError",
    "ManifoldShapeError",
    "ManifoldDtypeError",
    "UnknownManifoldError",
    "DuplicateManifoldError",
    "ProjectionError",
    "PluginLoadWarning",
    "ObjectiveError",
    "SolverOptionError",
    "ConstraintError",
    "ConstraintShapeError",
    "ManifoldParameterError",
    "NonFiniteError",
    "ManifoldOptionError",
]


class SolventError(Exception):
    """Base class of every error solvent raises on purpose."""


class ManifoldShapeError(SolventError, ValueError):
    """A tensor shape that a manifold cannot take."""

    def __init__(self, manifold: str, shape: Iterable[int], need: str, fix: str = "") -> None:
        shape = tuple(shape)
        msg = f"{manifold} cannot take a tensor of shape {shape}: it needs {need}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)
        self.manifold, self.shape = manifold, shape


class ManifoldDtypeError(SolventError, TypeError):
    """A dtype that a manifold cannot take (integers, bools, complex where unsupported)."""

    def __init__(self, manifold: str, dtype: object, need: str) -> None:
        super().__init__(f"{manifold} cannot take dtype {dtype}: it needs {need}")
        self.manifold, self.dtype = manifold, dtype


class UnknownManifoldError(SolventError, ValueError):
    """A manifold name that is not in the registry."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        import difflib

        available = sorted(available)
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"unknown manifold {name!r}.{hint} Available: {', '.join(available)}. "
            "Install a plugin that provides it, or pass a Manifold instance."
        )
        self.name = name


class DuplicateManifoldError(SolventError, ValueError):
    """Two plugins registered the same manifold name."""

    def __init__(self, name: str, first: str, second: str) -> None:
        super().__init__(
            f"manifold {name!r} is registered twice: by {first} and by {second}. "
            "Uninstall one of them, or rename the manifold in one plugin."
        )
        self.name, self.sources = name, (first, second)


class ProjectionError(SolventError, RuntimeError):
    """`project` did not reach the manifold."""


class PluginLoadWarning(UserWarning):
    """An installed plugin failed to load; the others keep working."""


class ObjectiveError(SolventError, ValueError):
    """An objective handed to ``solvent.optim`` that is not a finite real scalar function."""


class SolverOptionError(SolventError, ValueError):
    """An option of ``solvent.optim.minimize`` it cannot use (an unknown method, a bad x0)."""


class ConstraintError(SolventError, ValueError):
    """Bad input to ``solvent.constrain`` (unknown or already constrained parameter, bad beta)."""


class ConstraintShapeError(ConstraintError):
    """A parameter that a manifold cannot take, even after the layers' shape policy."""

    def __init__(self, where: str, shape: Iterable[int], manifold: str, why: str) -> None:
        shape = tuple(shape)
        super().__init__(
            f"cannot constrain {where} (shape {shape}) to {manifold}: {why}. Way out: choose a "
            "manifold that takes this shape, pass transpose=True/False, or reshape the layer."
        )
        self.where, self.shape, self.manifold = where, shape, manifold


class ManifoldParameterError(SolventError, ValueError):
    """A manifold parameter (the matrix B, say) that the manifold cannot use."""

    def __init__(self, manifold: str, parameter: str, problem: str, fix: str = "") -> None:
        msg = f"{manifold} cannot use this {parameter}: {problem}"
        super().__init__(msg + (f"; {fix}" if fix else ""))
        self.manifold, self.parameter = manifold, parameter


class NonFiniteError(ConstraintError):
    """A weight or point holding NaN or Inf where a feasible point is needed."""

    def __init__(self, where: str, bad: int, total: int) -> None:
        super().__init__(
            f"{where} got a tensor with {bad} non-finite (NaN or Inf) entr"
            f"{'y' if bad == 1 else 'ies'} of {total}: there is no nearest point on the manifold. "
            "Re-initialise the weight (or fix what produced the NaN/Inf) before constraining it."
        )
        self.where, self.bad, self.total = where, bad, total


class ManifoldOptionError(SolventError, TypeError):
    """Options to ``solvent.manifold(name, **options)`` that its factory does not take."""

    def __init__(self, manifold: str, accepted: dict[str, str], unknown=(), missing=()) -> None:
        import difflib

        problems = []
        for option in unknown:
            close = difflib.get_close_matches(option, list(accepted), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown option {option!r}{hint}")
        problems += [f"missing required option {option!r}" for option in missing]
        if accepted:
            options = ", ".join(f"{k}{v}" for k, v in accepted.items())
            way_out = f"Accepted options: {options} (solvent.manifold({manifold!r}, option=value))."
        else:
            way_out = f"It takes no options: solvent.manifold({manifold!r})."
        super().__init__(f"{manifold}: {'; '.join(problems)}. {way_out}")
        self.manifold, self.accepted = manifold, tuple(accepted)
        self.unknown, self.missing = tuple(unknown), tuple(missing)
