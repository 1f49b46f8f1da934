"""CDOpt checkpoints of its layers load into the ported layers and give CDOpt's outputs.

The reference file ``tests/cdopt_examples/reference_layers.pt`` holds, per layer,
a CDOpt 0.5.5 state_dict (weights moved off the manifold, so the map A
matters), an input, CDOpt's output, ``get_quad_penalty`` and
``get_constraint_violation``; ``tests/cdopt_examples/make_reference.py``
regenerates it with the real cdopt.
"""

from __future__ import annotations

import pathlib

import pytest
import torch

import solvent.compat.cdopt.manifold_torch
import solvent.compat.cdopt.nn
from solvent.compat.cdopt.nn import get_constraint_violation, get_quad_penalty

REF = torch.load(pathlib.Path(__file__).parent / "cdopt_examples" / "reference_layers.pt")
NAMES = sorted(k for k in REF if not k.startswith("_"))


def ported(ref: dict) -> torch.nn.Module:
    cls = getattr(solvent.compat.cdopt.nn, ref["layer"])
    manifold = getattr(solvent.compat.cdopt.manifold_torch, ref["manifold"])
    return cls(*ref["args"], manifold_class=manifold, penalty_param=ref["penalty_param"],
               dtype=torch.float64)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_cdopt_checkpoint_loads_strictly_and_gives_cdopts_output(name):
    ref = REF[name]
    layer = ported(ref)
    assert sorted(layer.state_dict()) == sorted(ref["state_dict"])  # CDOpt's keys, no more
    layer.load_state_dict(ref["state_dict"], strict=True)
    out = layer(*ref["inputs"])
    out = out[0] if isinstance(out, tuple) else out
    torch.testing.assert_close(out, ref["output"], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(get_quad_penalty(layer).detach(), ref["quad_penalty"])
    torch.testing.assert_close(get_constraint_violation(layer), ref["violation"])


def test_reference_weights_are_off_the_manifold():
    # Otherwise A(W) = W and the comparison above would not test the map.
    assert all(float(REF[n]["violation"]) > 1e-3 for n in NAMES if "euclidean" not in n)
