"""The command line: `python -m solvent manifolds | check`, its output and exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import solvent
from solvent.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from solvent.manifolds.base import Manifold


class WrongSphere(Manifold):
    """The unit sphere with a map that is not a dissolving map (A(x) = 2x): the kit must fail it."""

    name = "test_wrong_sphere"
    ndim = 1

    def _constraint(self, X):
        return X.square().sum(-1) - 1

    def _dissolve(self, X):
        return 2 * X

    def _project(self, X, **_):
        return X / X.norm(dim=-1, keepdim=True)


class NeedsOptions(Manifold):
    name = "test_needs_options"

    def __init__(self, size):
        self.size = size

    def _constraint(self, X):
        return X[..., :0, :0]


class Plugin:
    @solvent.hookimpl
    def solvent_register_manifolds(self, register):
        register("test_wrong_sphere", WrongSphere)
        register("test_needs_options", NeedsOptions)


@pytest.fixture
def with_test_plugin(fresh_registry):
    fresh_registry.register_plugin(Plugin(), name="test_cli_plugin")
    return fresh_registry


def test_manifolds_lists_every_registered_manifold(with_test_plugin, capsys):
    assert main(["manifolds"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "source", "map", "complex"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(solvent.available())
    assert rows["stiefel"].split()[1:] == ["built-in", "closed-form", "yes"]
    assert rows["special_linear"].split()[1:] == [
        "solvent-special-linear", "0.1.0", "generic", "yes"
    ]
    assert rows["test_wrong_sphere"].split()[1:] == ["test_cli_plugin", "closed-form", "yes"]
    assert "? (needs options)" in rows["test_needs_options"]


def test_check_passes_and_prints_the_report(capsys):
    status = main(["check", "scaled_sphere", "--shape", "4", "--shape", "2",
                   "--dtype", "float32", "--seed", "3", "--device", "cpu",
                   "--kwargs", '{"radius": 2.5}'])
    out = capsys.readouterr().out
    assert status == EXIT_OK, out
    assert out.startswith("conformance of 'scaled_sphere':")
    assert "shape=(4,)" in out and "shape=(2,)" in out
    assert out.rstrip().endswith("0 failed")


def test_check_failure_exits_1(with_test_plugin, capsys):
    assert main(["check", "test_wrong_sphere", "--shape", "3"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAIL  A(X) = X on M" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "stiefle"], "Did you mean 'stiefel'?"),
        (["check", "stiefel", "--shape", "2,4"], "n >= p"),
        (["check", "stiefel", "--shape", "4,x"], "comma-separated integers"),
        (["check", "stiefel", "--dtype", "int8"], "invalid choice"),
        (["check", "lorentz", "--dtype", "complex128"], "real only"),
        (["check", "scaled_sphere", "--kwargs", "{radius: 2}"], "not valid JSON"),
        (["check", "scaled_sphere", "--kwargs", "[2]"], "JSON object"),
        (["check", "scaled_sphere", "--kwargs", '{"radius": -1}'], "radius > 0"),
        (["check", "scaled_sphere", "--kwargs", '{"size": 2}'], "size"),
        (["check", "generalized_stiefel", "--kwargs", '{"colour": "blue"}'],
         "unknown option 'colour'. Accepted options: B=None"),
        (["check", "stiefel", "--seed", "x"], "invalid int value"),
        (["check", "stiefel", "--device", "nosuchdevice"], "'nosuchdevice' is not a device"),
        (["check", "stiefel", "--device", "cuda:x"], "'cuda:x' is not a device"),
        (["check", "stiefel", "--device", "meta"], "holds no data"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err
    assert len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith("solvent") and captured.out == ""


def test_no_command_prints_the_help_and_exits_2(capsys):
    assert main([]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("usage: solvent")


def test_cuda_on_a_machine_without_it_is_a_usage_error(monkeypatch, capsys):
    """Whatever this machine has: the answer for one without CUDA, and for a missing index."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["check", "stiefel", "--device", "cuda"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        "solvent: error: --device 'cuda': this machine has no CUDA device; use --device cpu\n"
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert main(["check", "stiefel", "--device", "cuda:2"]) == EXIT_USAGE
    assert "has 2 CUDA device(s), cuda:0 to cuda:1" in capsys.readouterr().err


def test_bad_device_in_a_real_process_has_no_traceback():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="error")
    run = subprocess.run([sys.executable, "-m", "solvent", "check", "stiefel", "--device",
                          "nosuchdevice"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == EXIT_USAGE, run.stderr
    assert run.stderr == (
        "solvent: error: --device 'nosuchdevice' is not a device; use cpu, cuda, cuda:1, mps, ...\n"
    )
    assert run.stdout == ""


def test_help_explains_commands_and_exit_status(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "manifolds" in out and "check" in out and "exit status" in out
    assert main(["check", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--shape", "--dtype", "--seed", "--kwargs", "exit status"):
        assert option in out
    assert main(["--version"]) == 0
    assert solvent.__version__ in capsys.readouterr().out


def test_module_runs_as_a_script():
    """One real process (torch import dominates): the exit status and the fresh registry."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="error")
    run = subprocess.run([sys.executable, "-m", "solvent", "check", "no_such_manifold"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == EXIT_USAGE, run.stderr
    assert "unknown manifold 'no_such_manifold'" in run.stderr
    assert "special_linear" in run.stderr and "stiefel" in run.stderr  # a new process loads plugins
    assert run.stdout == ""


def test_torch_threads_untouched():
    """The CLI must not change global torch state when called in-process."""
    before = torch.get_num_threads()
    main(["manifolds"])
    assert torch.get_num_threads() == before


def test_closed_pipe_is_not_an_error():
    """`solvent manifolds | head -1` ends quietly: no BrokenPipeError traceback, status 0.

    The real table fits in the pipe's buffer, so the child prints far more than
    that through the same entry point (_run) to make the pipe close under it.
    """
    import subprocess
    import sys

    child = (
        "import solvent.__main__ as m\n"
        "m.main = lambda: [print('x' * 100) for _ in range(100000)] and 0\n"
        "raise SystemExit(m._run())"
    )
    cmd = f"{sys.executable} -c \"$CHILD\" | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "CHILD": child})
    assert proc.stdout == "x" * 100 + "\n"
    assert "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
