"""The methods minimize() drives: solvent's own torch-native ones and SciPy's.

A torch-native method (``engine="torch"``, solvent.optim.native) keeps every
vector on the point's device; a SciPy one works on a float64 NumPy copy on the
host. Both get the same guard, stopping test and result.
"""

from __future__ import annotations

import dataclasses
import difflib
import math

from solvent.exceptions import SolverOptionError

__all__ = ["METHODS", "Method", "method_spec"]


@dataclasses.dataclass(frozen=True)
class Method:
    """A method: its engine, whether it takes Hessian-vector products, how SciPy reads gtol."""

    name: str
    second_order: bool
    tolerance: str  # SciPy's: "inf": gtol on max |g_i|; "2": on ||g||_2; "none": torch-native
    dense: bool = False  # keeps an N x N matrix
    engine: str = "scipy"  # or "torch"

    def options(self, gtol: float, maxiter: int, size: int, user: dict | None) -> dict:
        """SciPy's ``options``: its own tests tighter than ours, then the caller's on top.

        Our test is checked in the callback (Note [stopping test] in
        solvent.optim.minimize); SciPy's gtol is a tenth of it, so SciPy does
        not stop an iterate our test is still judging.
        """
        opts: dict = {"maxiter": maxiter}
        if self.tolerance == "inf":  # max |g_i| <= gtol / sqrt(N) implies ||g||_2 <= gtol
            opts["gtol"] = 0.1 * gtol / math.sqrt(max(size, 1))
        elif self.tolerance == "2":
            opts["gtol"] = 0.1 * gtol
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
        Method("trust-ncg", True, "2"),
        Method("trust-krylov", True, "2"),
        Method("L-BFGS", False, "none", engine="torch"),
        Method("trust-region", True, "none", engine="torch"),
        Method("Newton-CG", True, "none", engine="torch"),
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
