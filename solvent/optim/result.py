"""What :func:`solvent.optim.minimize` returns."""

from __future__ import annotations

import dataclasses

from torch import Tensor

from solvent._points import Point

__all__ = ["History", "Iterate", "OptimizeResult"]


@dataclasses.dataclass(frozen=True)
class Iterate:
    """What a ``callback`` receives after each iteration (the fields of one History entry).

    Attributes:
        k: the iteration number, counted over restarts.
        x: the iterate (not projected: it is the solver's own point).
        objective: f(A(x)).
        violation: ||C(x)||_F.
        grad_norm: ||grad h(x)||.
        time: seconds since the solve started.
        beta: the penalty weight in force.
    """

    k: int
    x: Point
    objective: float
    violation: float
    grad_norm: float
    time: float
    beta: float


@dataclasses.dataclass
class History:
    """One entry per accepted iteration, across restarts.

    Entry 0, and the first entry after each restart, is the solve's starting point.

    Attributes:
        objective: f(A(X_k)).
        violation: ||C(X_k)||_F (the iterate itself, before any projection).
        grad_norm: ||grad h(X_k)||, the quantity the solver drives to zero.
        time: seconds since the solve started.
        beta: the penalty weight in force at that iteration (it changes on a restart).
    """

    objective: list[float] = dataclasses.field(default_factory=list)
    violation: list[float] = dataclasses.field(default_factory=list)
    grad_norm: list[float] = dataclasses.field(default_factory=list)
    time: list[float] = dataclasses.field(default_factory=list)
    beta: list[float] = dataclasses.field(default_factory=list)

    def append(self, objective: float, violation: float, grad_norm: float, time: float,
               beta: float) -> None:
        """Record one iteration."""
        self.objective.append(objective)
        self.violation.append(violation)
        self.grad_norm.append(grad_norm)
        self.time.append(time)
        self.beta.append(beta)

    def __len__(self) -> int:
        return len(self.objective)


@dataclasses.dataclass
class OptimizeResult:
    """The outcome of :func:`solvent.optim.minimize`.

    Attributes:
        x: the final point made exactly feasible (``manifold.project``).
        fun: f(x) at that feasible point.
        grad_norm: the Riemannian gradient norm at x, see Note [riemannian gradient].
        violation: ||C|| of the solver's last iterate, before projection.
        success: the Riemannian gradient norm at x is <= gtol (first order) and the saddle
            check found no negative curvature there (Note [saddle check]); never after a
            divergence (Note [divergence guard]) or a stop by the callback.
        message: why it stopped, in words.
        nit: iterations, over all restarts.
        nfev, njev, nhev: objective, gradient and Hessian-vector evaluations.
        beta: the penalty weight of the final solve.
        restarts: how many times the divergence guard raised beta and solved on.
        method: the method used (a torch-native one, or SciPy's).
        history: per-iteration records.
        betas: every beta in force, as ``(iteration it took effect, beta, why)``.
        nrej: trial points rejected for their violation before f was called (they cost
            the manifold's A and C only, and are not in nfev).
    """

    x: Point
    fun: float
    grad_norm: float
    violation: float
    success: bool
    message: str
    nit: int
    nfev: int
    njev: int
    nhev: int
    beta: float
    restarts: int
    method: str
    history: History
    betas: list[tuple[int, float, str]] = dataclasses.field(default_factory=list)
    nrej: int = 0

    def __repr__(self) -> str:
        shape = tuple(self.x.shape) if isinstance(self.x, Tensor) else "tuple"
        return (
            f"OptimizeResult(success={self.success}, fun={self.fun:.10g}, "
            f"grad_norm={self.grad_norm:.3g}, violation={self.violation:.3g}, nit={self.nit}, "
            f"nfev={self.nfev}, nhev={self.nhev}, beta={self.beta:.3g}, restarts={self.restarts}, "
            f"method={self.method!r}, x={shape}, message={self.message!r})"
        )
