"""Every CDOpt layer class against the real cdopt 0.5.5: weights, checkpoints, outputs, training.

``tests/data/cdopt_layers.pt`` holds, per case of ``tests/cdopt_cases.py`` (each layer
class; recurrent layers also multi-layer, bidirectional and batch-first), what the
real cdopt produced (``benchmarks/cdopt_reference.py``): the weights a fresh layer
gets under a fixed seed, a checkpoint moved off the manifold (so the map A(X)
matters), and from that checkpoint the output, ``get_quad_penalty``,
``get_constraint_violation[_vector]``, the gradients and twelve Adam steps.

Tolerances. Everything is float64. A single forward/backward is a few dozen
rounded operations per entry, so its relative error is ~1e-15 (measured: at most
4e-15); ``EXACT = 1e-10`` leaves 1e5 of room for another BLAS (AVX-512 kernels sum in
another order) while any difference in the maths shows at 1e-3 or more. Adam's
twelve steps divide by sqrt(v): rounding grows at most ~10x a step on these well-
scaled losses, hence ``TRAINED = 1e-8``.
"""

from __future__ import annotations

import pathlib

import pytest
import torch

import solvent.compat.cdopt as cd
from tests import cdopt_cases as cases

REF = torch.load(pathlib.Path(__file__).parent / "data" / "cdopt_layers.pt", weights_only=True)
NAMES = sorted(REF["layers"])
EXACT = {"rtol": 1e-10, "atol": 1e-13}
TRAINED = {"rtol": 1e-8, "atol": 1e-12}


def test_every_case_of_the_module_has_a_reference():
    assert NAMES == sorted(cases.LAYERS)


@pytest.mark.parametrize("name", NAMES)
def test_fresh_layer_has_cdopts_weights_for_the_same_seed(name):
    layer = cases.build_layer(cd, name)
    ref = REF["layers"][name]["initial"]
    assert sorted(layer.state_dict()) == sorted(ref)  # CDOpt's keys, no more
    for key, value in layer.state_dict().items():
        # same draws, then a projection (QR/SVD) whose last bits depend on LAPACK: EXACT
        torch.testing.assert_close(value, ref[key], **EXACT, msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_cdopt_checkpoint_loads_strictly_and_computes_what_cdopt_did(name):
    ref = REF["layers"][name]
    layer = cases.build_layer(cd, name)
    layer.load_state_dict(ref["state_dict"], strict=True)
    got = cases.layer_figures(cd, layer, name, penalty=ref["penalty"])
    torch.testing.assert_close(got["output"], ref["output"], **EXACT)
    assert sorted(got["grads"]) == sorted(ref["grads"])
    for key, grad in got["grads"].items():
        torch.testing.assert_close(grad, ref["grads"][key], **EXACT, msg=key)
    for key in ("quad_penalty", "violation", "violation_vector"):
        if ref["penalty"]:
            torch.testing.assert_close(got[key], ref[key], **EXACT, msg=key)
    torch.testing.assert_close(got["adam_losses"], ref["adam_losses"], **TRAINED)


def test_reference_checkpoints_are_off_the_manifold():
    # Otherwise A(W) = W and the comparisons above would not test the map.
    for name in NAMES:
        ref = REF["layers"][name]
        if ref["penalty"] and "euclidean" not in name:
            assert float(ref["violation"]) > 1e-3, name


def test_bilinear_penalty_where_cdopt_cannot_compute_it():
    # cdopt 0.5.5 reshapes Bilinear's p x p constraint to the weight's shape and fails, so
    # there is no figure to compare with: the penalty is checked against its definition on
    # CDOpt's variable, the (out, in1, in2) weight's memory read as an (in1 * in2, out)
    # matrix X (a reshape, not a transpose: CDOpt's choice).
    layer = cases.build_layer(cd, "bilinear")
    layer.load_state_dict(REF["layers"]["bilinear"]["state_dict"])
    W = layer.weight.detach()
    X = W.reshape(12, 5)
    C = X.T @ X - torch.eye(5, dtype=X.dtype)
    assert layer.var_shape == (12, 5) and float(C.norm()) > 1e-3
    torch.testing.assert_close(cd.nn.get_constraint_violation(layer), C.norm(), **EXACT)
    torch.testing.assert_close(cd.nn.get_quad_penalty(layer).detach(),
                               cases.PENALTY * C.square().sum(), **EXACT)
