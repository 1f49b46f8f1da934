"""The SciPy methods minimize() drives, and how each reads gtol and maxiter."""

from __future__ import annotations

import dataclasses
import difflib
import math

from solvent.exceptions import SolverOptionError

__all__ = ["METHODS", "Method", "method_spec"]


@dataclasses.dataclass(frozen=True)
class Method:
    """A SciPy method: whether it takes Hessian-vector products, and how it reads tolerances."""

    name: str
    second_order: bool
    tolerance: str  # "inf": gtol on max |g_i|; "2": gtol on ||g||_2; "none": no gradient test
    dense: bool = False  # keeps an N x N matrix

    def options(self, gtol: float, maxiter: int, size: int, user: dict | None) -> dict:
        """SciPy's ``options``: its own tests no looser than ours, then the caller's on top.

        Our test, ||grad h||_2 <= gtol at an iterate, is checked in the callback
        (Note [stopping test] in solvent.optim.minimize).
        """
        opts: dict = {"maxiter": maxiter}
        if self.tolerance == "inf":  # max |g_i| <= gtol / sqrt(N) implies ||g||_2 <= gtol
            opts["gtol"] = gtol / math.sqrt(max(size, 1))
        elif self.tolerance == "2":
            opts["gtol"] = gtol
        else:  # Newton-CG stops on a small average step: only at rounding level
            opts["xtol"] = 1e-14
        if self.name == "L-BFGS-B":  # its relative-decrease test would stop first
            opts["ftol"] = 1e-15
        opts.update(user or {})
        return opts


METHODS: dict[str, Method] = {
    m.name.lower(): m
    for m in (
        Method("L-BFGS-B", False, "inf"),
        Method("BFGS", False, "inf", dense=True),
        Method("CG", False, "inf"),
        Method("Newton-CG", True, "none"),
        Method("trust-ncg", True, "2"),
        Method("trust-krylov", True, "2"),
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
