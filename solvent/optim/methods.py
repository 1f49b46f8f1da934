"""The SciPy methods minimize() drives, and how each reads gtol and maxiter."""

from __future__ import annotations

import dataclasses
import difflib

from solvent.exceptions import SolverOptionError

__all__ = ["METHODS", "Method", "method_spec"]


@dataclasses.dataclass(frozen=True)
class Method:
    """A SciPy method: whether it takes Hessian-vector products, and its stopping option."""

    name: str
    second_order: bool
    gtol_option: str  # the SciPy option our gtol is passed as
    extra: tuple[tuple[str, object], ...] = ()
    dense: bool = False  # keeps an N x N matrix

    def options(self, gtol: float, maxiter: int, user: dict | None) -> dict:
        """SciPy's ``options`` dict: ours first, the caller's on top."""
        opts = {"maxiter": maxiter, self.gtol_option: gtol, **dict(self.extra)}
        opts.update(user or {})
        return opts


# L-BFGS-B: ftol is SciPy's relative-decrease test (default 2.2e-9 stops long
# before gtol on eigenvalue problems, leaving ~1e-5 errors in the vectors), so it
# is set at rounding level and gtol decides. Newton-CG has no gradient test: its
# xtol is an average step size, which at a quadratic rate tracks the gradient.
METHODS: dict[str, Method] = {
    m.name.lower(): m
    for m in (
        Method("L-BFGS-B", False, "gtol", (("ftol", 1e-15),)),
        Method("BFGS", False, "gtol", dense=True),
        Method("CG", False, "gtol"),
        Method("Newton-CG", True, "xtol"),
        Method("trust-ncg", True, "gtol"),
        Method("trust-krylov", True, "gtol"),
    )
}

# BFGS stores a dense N x N inverse Hessian approximation: refuse sizes that
# would need more than this many bytes, with a pointer to L-BFGS-B.
DENSE_LIMIT_BYTES = 2 * 1024**3


def method_spec(name: object, size: int) -> Method:
    """The Method for a name (any case), or a clear error naming the choices."""
    if not isinstance(name, str) or name.lower() not in METHODS:
        names = [m.name for m in METHODS.values()]
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SolverOptionError(f"unknown method {name!r}.{hint} Choose one of {', '.join(names)}")
    method = METHODS[name.lower()]
    if method.dense and 8 * size * size > DENSE_LIMIT_BYTES:
        raise SolverOptionError(
            f"{method.name} keeps a dense {size}x{size} matrix ({8 * size * size / 2**30:.1f} GiB) "
            "for this problem; use method='L-BFGS-B' (limited memory) or a trust-region method"
        )
    return method
