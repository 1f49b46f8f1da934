"""CDOpt's documented examples run after the substitution ``cdopt`` -> ``solvent.compat.cdopt``.

Each example lives in ``tests/cdopt_examples/`` as CDOpt wrote it, with that
substitution, smaller sizes and no plotting. Reference figures (``CDOPT``
below) come from running the very same files with the substitution undone on
the real cdopt 0.5.5 (torch 2.14.1, NumPy 2, SciPy 1.17, one thread):

    OMP_NUM_THREADS=1 .venv-bench/bin/python tests/cdopt_examples/make_reference.py

Where both start from the same point (same seeds, same initial draw) the whole
run agrees; where the start differs (symplectic Stiefel: CDOpt's own
feasibility iteration vs solvent's projection) the optimum still does.
"""

from __future__ import annotations

import math

import pytest

from tests.cdopt_examples import (
    bose_einstein_condensates,
    dictionary_learning,
    nearest_correlation,
    nonlinear_eigenvalue,
    quick_start,
    symplectic_eigenvalue,
)

# The examples' own calls into SciPy use options that newer SciPy deprecates ('disp' for
# L-BFGS-B, integer data in sparse.diags) and torch warns about sparse CSR; none of it is
# solvent's, so only those exact warnings are ignored here.
SCIPY_EXAMPLE_WARNINGS = [
    pytest.mark.filterwarnings("ignore:scipy.optimize. The .disp.:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Input has data type int64:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning"),
    pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly:UserWarning"),
]

# From make_reference.py on cdopt 0.5.5 (values of main() with its defaults).
CDOPT = {
    "quick_start": {"fun": -24.213676389273964, "adam_end": -21.77836319690991,
                    "adam_feas": 0.007371787669261635},
    "dictionary_learning": {"beta": 8124.074131818155, "start": -7249.202624543794,
                            "lbfgs": -9907.124701309998, "cg": -9907.124701309993},
    "nearest_correlation": {"beta": 2.9204025262308386, "start": 269.8464039664388,
                            "lbfgs": 101.11150001870732, "cg": 101.11150001870557},
    "symplectic_eigenvalue": {"L-BFGS-B": 2.102007369636654, "CG": 2.1020073696402717,
                              "trust-krylov": 2.102007369633508,
                              "trust-ncg": 2.1020073696335073},
    "nonlinear_eigenvalue": {"start": 24.955953174922055, "L-BFGS-B": 4.76971034810797,
                             "CG": 4.769710348108232, "trust-krylov": 4.769710348106301,
                             "trust-ncg": 4.769710348106678},
    # bose_einstein_condensates: fails on cdopt 0.5.5 with NumPy 2 (sphere_np.Init_point
    # calls np.random.randn with a tuple); its optimum is known in closed form instead.
}  # fmt: skip


def test_quick_start_reaches_the_eigenvalue_optimum_like_cdopt():
    r = quick_start.main()
    ref = CDOPT["quick_start"]
    assert r["fun"] == pytest.approx(r["optimum"], rel=1e-7)  # -1/2 (sum of top s eigenvalues)
    assert r["fun"] == pytest.approx(ref["fun"], rel=1e-9)
    assert r["feas"] < 1e-4
    # the torch.optim route: same start, same Adam trajectory as CDOpt's
    assert r["adam_end"] < r["adam_start"]
    assert r["adam_end"] == pytest.approx(ref["adam_end"], rel=1e-9)
    assert r["adam_feas"] == pytest.approx(ref["adam_feas"], rel=1e-6)
    assert r["line"].startswith("& L-BFGS & -2.42e+01")




def _check_solves(r: dict, ref: dict, keys, rel: float) -> None:
    for key in keys:
        fun, feas, stat = r[key]
        assert feas < 1e-5, (key, feas)
        assert stat < 1e-3, (key, stat)
        assert fun == pytest.approx(ref[key], rel=rel), key


def _with_scipy_warnings(fn):
    for mark in SCIPY_EXAMPLE_WARNINGS:
        fn = mark(fn)
    return fn


@_with_scipy_warnings
def test_dictionary_learning_matches_cdopt():
    r = dictionary_learning.main()
    ref = CDOPT["dictionary_learning"]
    assert r["beta"] == pytest.approx(ref["beta"], rel=1e-9)  # CDOpt's 'auto' rule, same draws
    assert r["start"] == pytest.approx(ref["start"], rel=1e-12)
    assert r["lbfgs"][0] < r["start"]
    _check_solves(r, {k: ref[k] for k in ("lbfgs", "cg")}, ("lbfgs", "cg"), rel=1e-9)


@_with_scipy_warnings
def test_nearest_correlation_matches_cdopt():
    r = nearest_correlation.main()
    ref = CDOPT["nearest_correlation"]
    assert r["beta"] == pytest.approx(ref["beta"], rel=1e-9)
    assert r["start"] == pytest.approx(ref["start"], rel=1e-12)
    _check_solves(r, ref, ("lbfgs", "cg"), rel=1e-9)


@_with_scipy_warnings
def test_symplectic_eigenvalue_reaches_cdopts_optimum_with_all_four_solvers():
    r = symplectic_eigenvalue.main()
    assert r["start"] > r["L-BFGS-B"][0]
    _check_solves(r, CDOPT["symplectic_eigenvalue"], ("L-BFGS-B", "CG", "trust-krylov",
                                                      "trust-ncg"), rel=1e-8)  # fmt: skip


@_with_scipy_warnings
def test_nonlinear_eigenvalue_numpy_with_given_derivatives_matches_cdopt():
    r = nonlinear_eigenvalue.main()
    ref = CDOPT["nonlinear_eigenvalue"]
    assert r["start"] == pytest.approx(ref["start"], rel=1e-12)
    _check_solves(r, ref, ("L-BFGS-B", "CG", "trust-krylov", "trust-ncg"), rel=1e-9)


@_with_scipy_warnings
def test_bose_einstein_autograd_objective_reaches_the_closed_form_minimum():
    n = 50
    r = bose_einstein_condensates.main(n=n)
    # min 1/2 (sum x)^2 + sum x^4 on the unit sphere, n even: |x_i| = 1/sqrt(n), sum x = 0.
    assert r["start"] > 1.0 / n
    for key in ("L-BFGS-B", "trust-ncg"):
        fun, feas, stat = r[key]
        assert feas < 1e-5 and stat < 1e-4
        assert fun == pytest.approx(1.0 / n, rel=1e-6), key
    # trust-krylov stops at another stationary point (as may CDOpt's); it is still feasible.
    assert r["trust-krylov"][1] < 1e-5 and math.isfinite(r["trust-krylov"][0])
