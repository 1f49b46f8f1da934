"""Reference figures from the real CDOpt 0.5.5, for the compat tests.

Run with the real cdopt (the benchmark environment), from the repository root:

    OMP_NUM_THREADS=1 .venv-bench/bin/python tests/cdopt_examples/make_reference.py

1. ``reference_layers.pt``: CDOpt checkpoints of its layers, with outputs.

For each case the CDOpt layer is built from a fixed seed in float64, its
weights are moved off the manifold (so A matters), and its state_dict, an
input, the output, ``get_quad_penalty`` and ``get_constraint_violation`` are
saved. ``test_compat_cdopt_checkpoints.py`` loads each state_dict into the
ported layer and compares.

2. The examples' figures: each example file of this folder is run with the
substitution undone (``solvent.compat.cdopt`` -> ``cdopt``) and its ``main()``'s
numbers are printed; ``test_compat_cdopt_examples.py`` stores them.

This file imports ``cdopt``; the suite never runs it.
"""

from __future__ import annotations

import pathlib

import torch

CASES = {
    # name: (layer, args, manifold, input shapes)
    "linear_tall": ("Linear_cdopt", (8, 3), "stiefel_torch", [(4, 8)]),
    "linear_wide": ("Linear_cdopt", (3, 8), "stiefel_torch", [(4, 3)]),
    "linear_sphere": ("Linear_cdopt", (5, 4), "sphere_torch", [(2, 5)]),
    "linear_oblique": ("Linear_cdopt", (5, 4), "oblique_torch", [(2, 5)]),
    "linear_euclidean": ("Linear_cdopt", (5, 4), "euclidean_torch", [(2, 5)]),
    "conv2d": ("Conv2d_cdopt", (6, 16, 5), "stiefel_torch", [(2, 6, 9, 9)]),
    "conv1d": ("Conv1d_cdopt", (3, 4, 3), "stiefel_torch", [(2, 3, 7)]),
    "convtranspose2d": ("ConvTranspose2d_cdopt", (4, 3, 2), "stiefel_torch", [(2, 4, 3, 3)]),
    "rnn": ("RNN_cdopt", (3, 5), "stiefel_torch", [(6, 2, 3)]),
    "lstm2": ("LSTM_cdopt", (3, 5, 2), "stiefel_torch", [(6, 2, 3)]),
    "gru": ("GRU_cdopt", (3, 5), "stiefel_torch", [(6, 2, 3)]),
    "rnncell": ("RNNCell_cdopt", (3, 5), "stiefel_torch", [(2, 3)]),
    "lstmcell": ("LSTMCell_cdopt", (3, 5), "stiefel_torch", [(2, 3)]),
    "grucell": ("GRUCell_cdopt", (3, 5), "stiefel_torch", [(2, 3)]),
}
PENALTY = 0.3


def case(name: str, spec) -> dict:
    import cdopt.manifold_torch
    import cdopt.nn

    layer_name, args, manifold, shapes = spec
    torch.manual_seed(sum(map(ord, name)))
    cls = getattr(cdopt.nn, layer_name)
    layer = cls(*args, manifold_class=getattr(cdopt.manifold_torch, manifold),
                penalty_param=PENALTY, dtype=torch.float64)  # fmt: skip
    with torch.no_grad():
        for key, p in layer.named_parameters():
            if key.startswith("weight"):
                p.add_(0.05 * torch.randn_like(p))
    xs = [torch.randn(s, dtype=torch.float64) for s in shapes]
    out = layer(*xs)
    out = out[0] if isinstance(out, tuple) else out
    return {
        "layer": layer_name, "args": args, "manifold": manifold, "penalty_param": PENALTY,
        "state_dict": {k: v.detach().clone() for k, v in layer.state_dict().items()},
        "inputs": xs, "output": out.detach(),
        "quad_penalty": cdopt.nn.get_quad_penalty(layer).detach(),
        "violation": cdopt.nn.get_constraint_violation(layer).detach(),
    }  # fmt: skip


EXAMPLES = ["quick_start", "dictionary_learning", "nearest_correlation", "symplectic_eigenvalue",
            "nonlinear_eigenvalue", "bose_einstein_condensates", "rnn_single_layer",
            "rnn_multi_layer", "rnn_lstm", "sine_sequence", "LeNet_orth",
            "build_networks"]  # fmt: skip


def run_example_on_cdopt(name: str) -> dict:
    """Exec the example with ``solvent.compat.cdopt`` replaced by ``cdopt``; return main()."""
    import types
    import warnings

    src = pathlib.Path(__file__).with_name(f"{name}.py").read_text()
    module = types.ModuleType(f"cdopt_{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = compile(src.replace("solvent.compat.cdopt", "cdopt"), name, "exec")
        exec(code, module.__dict__)  # noqa: S102 (our own example file, substitution undone)
        out = module.main()
    return {k: v for k, v in out.items() if isinstance(v, (float, int, tuple, list))}


def main() -> None:
    import sys

    import cdopt

    torch.set_num_threads(1)
    for name in EXAMPLES if "--layers-only" not in sys.argv else []:
        try:
            print(name, run_example_on_cdopt(name), flush=True)
        except Exception as err:  # noqa: BLE001 (report and go on: some fail on cdopt itself)
            print(name, "FAILS on cdopt:", type(err).__name__, err, flush=True)
    ref = {name: case(name, spec) for name, spec in CASES.items()}
    ref["_made_with"] = f"cdopt {getattr(cdopt, '__version__', '0.5.5')}, torch {torch.__version__}"
    path = pathlib.Path(__file__).with_name("reference_layers.pt")
    torch.save(ref, path)
    print(f"wrote {path} ({path.stat().st_size} bytes): {ref['_made_with']}")


if __name__ == "__main__":
    main()
