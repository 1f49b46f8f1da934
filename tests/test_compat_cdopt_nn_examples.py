"""CDOpt's documented network examples run after the substitution cdopt -> solvent.compat.cdopt.

The examples live in ``tests/cdopt_examples/`` (CDOpt's code, that substitution,
small sizes, offline MNIST-shaped data). ``CDOPT`` holds the figures of the same
files run on the real cdopt 0.5.5 with the substitution undone
(``tests/cdopt_examples/make_reference.py``, torch 2.14.1, one thread): the
layers start from the same weights and compute the same maps, so the training
trajectories agree to rounding (float32 networks drift slowly over many steps).
"""

from __future__ import annotations

import socket
import statistics

import pytest
import torch

from tests.cdopt_examples import (
    LeNet_orth,
    build_networks,
    distributed_linear_basic,
    distributed_rnn_basic,
    rnn_lstm,
    rnn_multi_layer,
    rnn_single_layer,
    sine_sequence,
)

# From make_reference.py on cdopt 0.5.5 (main() with its defaults).
CDOPT = {
    "rnn_single_layer": {"first": 2.2811529636383057, "last": 1.902919888496399,
                         "test_acc": 0.84375, "quad_penalty": 0.014334596693515778},
    "rnn_multi_layer": {"first": 2.317715644836426, "last": 1.7443453073501587,
                        "test_acc": 0.8984375, "quad_penalty": 0.0379730761051178},
    "rnn_lstm": {"first": 2.308847427368164, "last": 1.9316394329071045, "test_acc": 0.5390625,
                 "quad_penalty": 0.05091983079910278},
    "sine_sequence": {"test_losses": [0.5576127987284477, 0.00559898298098518],
                      "quad_penalty": 0.07842058680118497},
    "LeNet_orth": {"tests": [(2.301539659500122, 0.11328125), (2.2907769680023193, 0.11328125),
                             (2.268389940261841, 0.30859375), (2.196894645690918, 0.46875)]},
    "build_networks": {"tests": [(2.3087520599365234, 0.0859375), (2.297856330871582, 0.09375),
                                 (2.2756025791168213, 0.09375)]},
}  # fmt: skip


def _decreases(losses: list[float], k: int = 3) -> bool:
    return statistics.mean(losses[-k:]) < statistics.mean(losses[:k])


@pytest.mark.parametrize("example", [rnn_single_layer, rnn_multi_layer, rnn_lstm],
                         ids=["rnn_single_layer", "rnn_multi_layer", "rnn_lstm"])  # fmt: skip
def test_rnn_notebooks_train_like_cdopt(example):
    r = example.main()
    ref = CDOPT[example.__name__.rsplit(".", 1)[1]]
    assert _decreases(r["losses"])
    assert r["test_acc"] > 0.3  # chance is 0.1
    assert r["quad_penalty"] < 0.1  # ||C||^2 of the stacked weight_hh matrices
    assert r["losses"][0] == pytest.approx(ref["first"], rel=1e-6)
    assert r["losses"][-1] == pytest.approx(ref["last"], rel=1e-4)
    assert r["test_acc"] == ref["test_acc"]
    assert r["quad_penalty"] == pytest.approx(ref["quad_penalty"], rel=1e-3)


def test_sine_sequence_lstmcells_with_lbfgs_like_cdopt():
    r = sine_sequence.main()
    ref = CDOPT["sine_sequence"]
    assert r["test_losses"][-1] < 0.05 * r["test_losses"][0]
    torch.testing.assert_close(r["test_losses"], ref["test_losses"], rtol=1e-7, atol=0)
    assert r["quad_penalty"] == pytest.approx(ref["quad_penalty"], rel=1e-7)


@pytest.mark.parametrize("network", ["Net", "new_Net"])
def test_lenet_orthogonal_convs_like_cdopt(network):
    r = LeNet_orth.main(network=network)
    (loss0, _), *_, (loss1, acc1) = r["tests"]
    assert loss1 < loss0 and acc1 > 0.3
    assert r["feas"] < 0.05
    ref = CDOPT["LeNet_orth"]["tests"]
    assert r["tests"][1][0] == pytest.approx(ref[1][0], rel=1e-4)
    assert loss1 == pytest.approx(ref[-1][0], rel=1e-2)  # float32, 96 steps: slow drift


def test_lenet_set_constraint_dissolving_equals_conv2d_cdopt():
    # The same orthogonal conv through the predefined layer or set_constraint_dissolving:
    # the variables are the same matrices and Adadelta is elementwise.
    a = LeNet_orth.main(n_train=256, epochs=1, network="Net")
    b = LeNet_orth.main(n_train=256, epochs=1, network="new_Net")
    torch.testing.assert_close(a["losses"], b["losses"], rtol=1e-5, atol=0)


def test_build_networks_tutorial_linear_cdopt_like_cdopt():
    r = build_networks.main()
    ref = CDOPT["build_networks"]["tests"]
    assert r["tests"][-1][0] < r["tests"][0][0]
    assert r["feas"] < 0.05
    for (loss, _), (ref_loss, _) in zip(r["tests"], ref):
        assert loss == pytest.approx(ref_loss, rel=1e-4)


def test_build_networks_tutorial_set_constraint_dissolving():
    r = build_networks.main_set_constraints()
    assert r["original_shape"] == (256, 120)  # CDOpt's variable: the tall W^T
    assert r["gram_error"] < 1e-5 and r["grad"]


def test_build_networks_tutorial_stateless_calls():
    r = build_networks.main_stateless()
    m, W, b = r["m"], r["my_weight"], r["my_bias"]
    torch.testing.assert_close(r["output1"], r["output2"])
    # fc1 computed with A(my_weight) (Stiefel map of the tall W^T), not with its own weight
    A = (W.T @ (1.5 * torch.eye(3) - 0.5 * W @ W.T)).T
    expected = m.fc2(m.bn(torch.nn.functional.linear(r["inp"], A, b)))
    torch.testing.assert_close(r["output1"], expected)
    C = W @ W.T - torch.eye(3)
    torch.testing.assert_close(r["quad_penalty1"], 0.1 * C.square().sum())
    torch.testing.assert_close(r["quad_penalty2"], r["quad_penalty1"])
    r["quad_penalty1"].backward()
    assert W.grad is not None  # the penalty is differentiable in the given weight


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_linear_rpc_and_ddp_over_gloo(tmp_path):
    distributed_linear_basic.main(_free_port(), _free_port(), str(tmp_path), epochs=2)
    a, b = (torch.load(tmp_path / f"trainer{r}.pt", weights_only=True) for r in (0, 1))
    assert len(a["losses"]) == len(b["losses"]) == 20
    assert all(map(torch.isfinite, torch.tensor(a["losses"] + b["losses"])))
    assert torch.equal(a["weight"], b["weight"])  # DDP kept the Linear_cdopt replicas equal
    assert max(a["feas"]) < 1e-2  # ||C||^2 of the Stiefel weight stays small


@pytest.mark.slow
def test_distributed_rnn_rpc(tmp_path):
    distributed_rnn_basic.main(_free_port(), str(tmp_path), epochs=2)
    out = torch.load(tmp_path / "trainer.pt", weights_only=True)
    assert len(out["losses"]) == 10
    assert all(map(torch.isfinite, torch.tensor(out["losses"])))
    assert float(out["violation"]) < 1e-2
    assert [tuple(w.shape) for w in out["weights"]] == [(12, 3)] * 4  # whole 4h x h matrices
