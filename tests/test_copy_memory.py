"""The copying-memory example: the task's data, its baseline, and a tiny end-to-end run."""

import doctest
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import copy_memory  # noqa: E402  (in examples/: needs the sys.path insertion above)

TINY = [
    "--T",
    "6",
    "--hidden",
    "12",
    "--iterations",
    "30",
    "--eval-every",
    "10",
    "--batch-size",
    "32",
    "--test-size",
    "64",
    "--threads",
    "1",
    "--lr",
    "3e-3",
]


def test_docstring_examples_run():
    assert doctest.testmod(copy_memory).failed == 0


def test_a_batch_is_symbols_blanks_delimiter_then_recall():
    T = 5
    x, y = copy_memory.copy_batch(4, T, torch.Generator().manual_seed(3))
    assert x.shape == y.shape == (4, T + 20) and x.dtype == torch.int64
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all()
    assert (
        (x[:, 10 : T + 9] == 0).all() and (x[:, T + 9] == 9).all() and (x[:, T + 10 :] == 0).all()
    )
    assert (y[:, : T + 10] == 0).all() and torch.equal(y[:, T + 10 :], x[:, :10])
    again, _ = copy_memory.copy_batch(4, T, torch.Generator().manual_seed(3))
    assert torch.equal(x, again)


def test_baseline_is_the_memoryless_cross_entropy():
    # Blanks with certainty for T + 10 steps, then a uniform guess over 8 symbols.
    T = 30
    _, y = copy_memory.copy_batch(256, T, torch.Generator().manual_seed(0))
    logits = torch.full((256, T + 20, 9), -1e9)
    logits[:, : T + 10, 0] = 0.0
    logits[:, T + 10 :, 1:] = 0.0
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    assert float(ce) == pytest.approx(copy_memory.baseline_cross_entropy(T), rel=1e-6)
    assert copy_memory.baseline_cross_entropy(T) == pytest.approx(10 * math.log(8) / 50)


def test_modrelu_is_identity_on_large_inputs_and_zero_below_the_bias():
    act = copy_memory.ModReLU(3)
    with torch.no_grad():
        act.bias.copy_(torch.tensor([-0.5, -0.5, 0.0]))
    z = torch.tensor([[2.0, 0.3, -4.0]])
    assert torch.allclose(act(z), torch.tensor([[1.5, 0.0, -4.0]]))


def test_both_models_start_from_the_same_orthogonal_weight():
    cfg = copy_memory.parse_args(TINY)
    a = copy_memory.build_model(cfg, True, seed=5)
    b = copy_memory.build_model(cfg, False, seed=5)
    Wa, Wb = a.recurrent.weight.detach(), b.recurrent.weight.detach()
    assert torch.allclose(Wa, Wb, atol=1e-5)
    assert torch.allclose(Wb.T @ Wb, torch.eye(12), atol=1e-5)
    assert not torch.allclose(Wb, copy_memory.build_model(cfg, False, seed=6).recurrent.weight)


def test_end_to_end_writes_metrics_and_figure(tmp_path):
    cmd = [
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "copy_memory.py"),
        *TINY,
        "--seeds",
        "0",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"metrics: {tmp_path / 'metrics.json'}" in proc.stdout
    assert (tmp_path / "copy_memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["baseline_ce"] == pytest.approx(copy_memory.baseline_cross_entropy(6))
    for name in ("constrained", "plain"):
        model = result["models"][name]
        assert [r["seed"] for r in model["runs"]] == [0, 1]
        for run in model["runs"]:
            curve = run["curve"]
            assert [row["iteration"] for row in curve] == [10, 20, 30]
            assert 0.0 <= run["recall_acc"] <= 1.0
            assert curve[-1]["test_ce"] < math.log(9)  # learned something from uniform
        ces = [r["test_ce"] for r in model["runs"]]
        assert model["test_ce_mean_sd"][0] == pytest.approx(sum(ces) / 2)
    # The constraint holds W near orthogonal; the free W leaves the manifold.
    # (measured: <= 1.3e-3 constrained, >= 1.2 free, at this size)
    worst = max(r["curve"][-1]["violation"] for r in result["models"]["constrained"]["runs"])
    free = min(r["curve"][-1]["violation"] for r in result["models"]["plain"]["runs"])
    assert worst < 0.05 and free > 0.5


def test_tanh_cell_and_bad_arguments(tmp_path):
    r = copy_memory.main(
        [
            *TINY,
            "--cell",
            "tanh",
            "--iterations",
            "10",
            "--models",
            "plain",
            "--seeds",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    assert list(r["models"]) == ["plain"] and r["config"]["cell"] == "tanh"
    with pytest.raises(SystemExit):
        copy_memory.parse_args(["--T", "0"])
