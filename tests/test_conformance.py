"""The conformance kit over every registered manifold, and over constraint-only ones."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import solvent
from solvent.exceptions import ManifoldShapeError
from solvent.manifolds.base import Manifold
from solvent.manifolds.stiefel import polar
from solvent.testing import check_manifold, check_torch_func
from tests.manifolds_for_tests import ExpPositive, RankOneGram, SymmetricStiefel, UnitCircleRows

REGISTERED = solvent.available()
GENERIC = [SymmetricStiefel(), UnitCircleRows()]


DTYPES = [torch.float64, torch.float32, torch.complex128]
CASES = [
    (name, dtype)
    for name in REGISTERED
    for dtype in DTYPES
    if solvent.manifold(name).supports_dtype(dtype)
]


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=lambda v: str(v).replace("torch.", ""))
@settings(max_examples=3)
@given(seed=st.integers(0, 2**31 - 1))
def test_registered_manifold_conforms(name, dtype, seed):
    """Every registered manifold (built-in or plugin) passes the kit, on hypothesis-drawn seeds."""
    report = check_manifold(solvent.manifold(name), dtype=dtype, seed=seed)
    assert report.ok, report.format()


GENERIC_CASES = [
    (M, dtype) for M in GENERIC for dtype in DTYPES if M.supports_complex or not dtype.is_complex
]


@pytest.mark.parametrize(("M", "dtype"), GENERIC_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_generic_map_conforms(M, dtype):
    report = check_manifold(M, dtype=dtype, seed=1)
    assert report.ok, report.format()


def test_generic_map_at_exactly_feasible_redundant_point():
    """CDOpt's generic map fails with a singular solve here; ours returns X."""
    M = SymmetricStiefel()
    X = torch.eye(3, dtype=torch.float64)[:, :2].clone()
    assert torch.equal(M.constraint(X), torch.zeros(2, 2, dtype=torch.float64))
    A = M.dissolve(X)
    assert torch.allclose(A, X, atol=1e-14)


def test_generic_map_trains_through():
    """Adam on f(A(X)) + beta * penalty reaches a feasible minimiser through the generic map."""
    M = SymmetricStiefel()
    torch.manual_seed(0)
    H = torch.randn(4, 4, dtype=torch.float64)
    H = H + H.T
    X = M.random(4, 2, dtype=torch.float64).requires_grad_()
    opt = torch.optim.Adam([X], lr=0.02)
    for _ in range(500):
        opt.zero_grad()
        Y = M.dissolve(X)
        loss = -torch.trace(Y.T @ H @ Y) + 10.0 * M.penalty(X)
        loss.backward()
        opt.step()
    best = torch.linalg.eigvalsh(H)[-2:].sum()
    Y = M.project(X.detach())
    assert float(M.violation(X.detach())) < 1e-3
    assert abs(float(torch.trace(Y.T @ H @ Y)) - float(best)) < 1e-3 * abs(float(best)) + 1e-3


def test_check_manifold_catches_a_wrong_map():
    """The kit must fail a manifold whose map is not a dissolving map (it can fail)."""

    class Wrong(SymmetricStiefel):
        name = "test_wrong"

        def _dissolve(self, X):
            return X @ (1.5 * torch.eye(X.shape[-1], dtype=X.dtype) - 0.25 * X.mT @ X)

        def _project(self, X, **_):
            return polar(X)

    report = check_manifold(Wrong(), shapes=[(3, 2)])
    assert not report.ok
    failed = {r.name for r in report.failures}
    assert "A(X) = X on M" in failed and "DA range in T_X M" in failed


# ----------------------------------------------------------------------------- torch.func
# Manifolds whose maths goes through custom autograd Functions: correct values
# and backward (so gradcheck passes), but a missing or wrong forward-mode / vmap
# rule. The kit must fail exactly its torch.func checks on them.


def _hooks(cls):
    """cls as a Manifold on either contract: hooks (``_constraint``) or, before issue 11's
    template-method contract, the public names."""
    if hasattr(Manifold, "_constraint"):
        return cls
    public = {k[1:]: v for k, v in vars(cls).items() if k in ("_constraint", "_dissolve")}
    public["project"] = lambda self, X, **_: X / X.norm(dim=-1, keepdim=True)
    return type(cls.__name__, (cls,), public)


class _SqNorm(torch.autograd.Function):
    """|x|^2 over the last dimension, backward only (no jvp, no vmap rule)."""

    @staticmethod
    def forward(x):
        return x.square().sum(-1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g.unsqueeze(-1) * x


class _SphereMap(torch.autograd.Function):
    """A(x) = 2x / (1 + |x|^2), backward only (no jvp, no vmap rule)."""

    @staticmethod
    def forward(x):
        return 2 * x / (1 + x.square().sum(-1, keepdim=True))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):  # d/dx of 2x/s with s = 1 + |x|^2, in differentiable ops
        (x,) = ctx.saved_tensors
        s = 1 + x.square().sum(-1, keepdim=True)
        return 2 * g / s - 4 * x * (g * x).sum(-1, keepdim=True) / s.square()


class _SphereMapWrongRules(_SphereMap):
    """_SphereMap with a jvp that forgets the denominator's derivative and a vmap rule that
    normalises over the whole batch: both plausible bugs, both silent without the kit."""

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 2 * t / (1 + x.square().sum(-1, keepdim=True))

    @staticmethod
    def vmap(info, in_dims, x):
        x = x.movedim(in_dims[0], 0)
        return 2 * x / (1 + x.square().sum()), 0

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])


@_hooks
class FunctionSphere(Manifold):
    """The unit sphere, its constraint and map built on Functions without jvp or vmap rules."""

    name = "test_function_sphere"
    ndim = 1
    supports_complex = False

    def _constraint(self, X):
        return _SqNorm.apply(X) - 1

    def _dissolve(self, X):
        return _SphereMap.apply(X)


@_hooks
class WrongRulesSphere(Manifold):
    """The unit sphere, its map a Function whose jvp and vmap rules are wrong."""

    name = "test_wrong_rules_sphere"
    ndim = 1
    supports_complex = False

    def _constraint(self, X):
        return X.square().sum(-1) - 1

    def _dissolve(self, X):
        return _SphereMapWrongRules.apply(X)


FUNC_CHECKS = {
    *(f"func.{t} {m}" for t in ("jvp", "vmap") for m in
      ("dissolve", "constraint", "dissolve_with_constraint")),
    "func.vmap penalty",
    "func.hessian penalty",
}  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_kit_fails_a_custom_function_without_jvp_or_vmap(dtype):
    """gradcheck alone passes such a map; the kit's torch.func checks must not."""
    report = check_manifold(FunctionSphere(), dtype=dtype, shapes=[(3,)])
    failed = {r.name for r in report.failures}
    assert failed == FUNC_CHECKS, report.format()
    assert "must implement the jvp" in report.format()
    if dtype == torch.float64:
        assert {"gradcheck dissolve", "gradgradcheck penalty"} <= {r.name for r in report.results}


def test_kit_fails_wrong_jvp_and_vmap_rules():
    """Rules that run but give wrong values are caught by value (finite differences, a loop)."""
    report = check_manifold(WrongRulesSphere(), shapes=[(3,), (5,)])
    failed = {(r.name, r.shape) for r in report.failures}
    maps = ("dissolve", "dissolve_with_constraint")
    expected = {(f"func.{t} {m}", shape) for t in ("jvp", "vmap") for m in maps
                for shape in ((3,), (5,))}  # fmt: skip
    assert failed == expected, report.format()
    assert "|jvp - fd|" in report.format() and "|vmap - loop|" in report.format()


# ----------------------------------------------------------------------------- whole registry
def test_torch_func_over_the_whole_registry_in_one_process():
    """The kit's torch.func checks (hessian first) over every registered manifold and dtype, in
    one process and one order: a map that keeps a tensor built inside a transform (a cached
    identity) fails the manifolds that meet it later."""
    failures = []
    for name in REGISTERED:
        M = solvent.manifold(name)
        for dtype in DTYPES:
            if not M.supports_dtype(dtype):
                continue
            report = check_torch_func(M, dtype=dtype, seed=3)
            failures += [f"{name} {dtype}: {r.name} {r.shape} {r.detail}" for r in report.failures]
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------- chart kind
CHARTS = [ExpPositive(), RankOneGram()]
CHART_CASES = [
    (M, dtype) for M in CHARTS for dtype in DTYPES if M.supports_complex or not dtype.is_complex
]


@pytest.mark.parametrize(("M", "dtype"), CHART_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_toy_chart_manifolds_conform(M, dtype):
    report = check_manifold(M, dtype=dtype, seed=2)
    assert report.ok, report.format()
    names = {r.name for r in report.results}
    assert {"A(Z) in M, any Z", "rank DA = dim M", "A(lift(Y)) = Y near X"} <= names


def test_products_with_chart_factors_conform():
    for factors, kind in (((ExpPositive(), "stiefel"), "equality"),
                          ((ExpPositive(), RankOneGram()), "chart")):  # fmt: skip
        P = solvent.manifold("product", manifolds=factors)
        assert P.kind == kind
        report = check_manifold(P, seed=1)
        assert report.ok, report.format()
        assert any(r.name.startswith("factor 0 (test_exp_positive)") for r in report.results)


def test_chart_free_variable_and_point_are_validated_apart():
    M = RankOneGram()
    assert M.free_shape((2, 4, 4)) == (2, 4, 1) and M.point_shape((2, 4, 1)) == (2, 4, 4)
    Y = torch.randn(2, 4, 1, dtype=torch.float64)
    X = M.dissolve(Y)
    assert X.shape == (2, 4, 4) and M.check_point(X)
    assert torch.allclose(M.dissolve(M.lift(X)), X, atol=1e-12)
    C, p = M.constraint(Y), M.penalty(Y)
    assert C.shape == (2, 0) and p.ndim == 0 and float(p) == 0.0
    with pytest.raises(ManifoldShapeError, match=r"test_rank_one_gram .*\(\.\.\., n, 1\)"):
        M.dissolve(X)  # a point where a free variable is due
    with pytest.raises(ManifoldShapeError, match="square"):
        M.violation(Y)  # a free variable where a point is due
    with pytest.raises(ManifoldShapeError, match="square"):
        M.free_shape((4, 3))
    ok, why = M.check_point(Y, explain=True)
    assert not ok and "square" in why


class _Leaving(ExpPositive):
    """The identity as the 'map': it leaves the positive orthant."""

    name = "test_leaving"

    def _dissolve(self, Z):
        return Z * 1.0

    def _lift(self, X):
        return X * 1.0


class _Collapsing(ExpPositive):
    """exp of the mean, repeated: lands in M but has rank 1, so it covers no neighbourhood."""

    name = "test_collapsing"

    def _dissolve(self, Z):
        return torch.exp(Z.mean(-1, keepdim=True)).expand(Z.shape) * 1.0


class _WrongLift(ExpPositive):
    name = "test_wrong_lift"

    def _lift(self, X):
        return torch.log(X) + 0.1


class _WrongGradient(torch.autograd.Function):
    @staticmethod
    def forward(z):
        return torch.exp(z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g  # forgets the factor exp(z)


class _WrongGradientChart(ExpPositive):
    name = "test_wrong_gradient"

    def _dissolve(self, Z):
        return _WrongGradient.apply(Z)


@pytest.mark.parametrize(
    ("M", "expected"),
    [
        (_Leaving(), {"A(Z) in M, any Z"}),
        (_Collapsing(), {"rank DA = dim M", "A(lift(Y)) = Y near X"}),
        (_WrongLift(), {"A(lift(Y)) = Y near X"}),
        (_WrongGradientChart(), {"gradcheck dissolve", "func.jvp dissolve"}),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_kit_fails_a_broken_chart(M, expected):
    report = check_manifold(M, shapes=[(3,)])
    failed = {r.name for r in report.failures}
    assert expected <= failed, report.format()
