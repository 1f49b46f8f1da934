"""The solver examples run, print their gap, and pass their own tolerance (exit status 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CASES = [
    ("pca_stiefel.py", ["--n", "60", "--p", "3"], "subspace gap"),
    ("pca_stiefel.py", ["--n", "60", "--p", "3", "--method", "trust-krylov"], "subspace gap"),
    ("procrustes.py", ["--n", "30", "--p", "4", "--method", "trust-region"], "SVD solution"),
    ("sphere_dictionary.py", ["--n", "8", "--m", "1500"], "nearest +-atom"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("script", "args", "expect"), CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1][-2:])}" for c in CASES])
def test_example_runs_and_meets_its_tolerance(script, args, expect):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    command = [sys.executable, str(EXAMPLES / script), "--seed", "1", "--threads", "1", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert expect in proc.stdout and "success=True" in proc.stdout
