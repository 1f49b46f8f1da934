"""Reference figures from the real cdopt 0.5.5, for the compat tests.

Runs the cases of ``tests/cdopt_cases.py`` on the real ``cdopt`` and writes

- ``tests/data/cdopt_reference.json``: the problem figures (CDF value, gradient and
  Hessian-vector product, the ends of SciPy's L-BFGS-B and trust-krylov runs) on every
  ``*_torch`` and ``*_np`` class, the ``beta='auto'`` estimates, and the training losses
  of the small networks;
- ``tests/data/cdopt_layers.pt``: for every layer class, the freshly built state_dict
  (same seed), a state_dict moved off the manifold (a checkpoint) and what the layer
  computes from it: output, penalties, gradients and a short Adam run.

Needs cdopt (the benchmark environment); from the repository root:

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 /path/to/bench-venv/bin/python benchmarks/cdopt_reference.py

The suite never runs this file; ``tests/test_compat_cdopt_reference.py`` and
``tests/test_compat_cdopt_checkpoints.py`` compare solvent with what it wrote.
"""

from __future__ import annotations

import json
import pathlib
import platform
import warnings

import numpy as np
import torch

from tests import cdopt_cases as cases

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def problems(cd) -> dict:
    out = {}
    for name in cases.PROBLEMS:
        for backend in ("torch", "np"):
            np.random.seed(0)
            torch.manual_seed(0)
            try:
                out[f"{name}_{backend}"] = cases.problem_figures(cd, name, backend)
            except Exception as err:  # noqa: BLE001 (record it: some classes fail on cdopt itself)
                out[f"{name}_{backend}"] = {"error": f"{type(err).__name__}: {err}"}
                print(f"{name}_{backend} fails on cdopt: {type(err).__name__}: {err}")
    for backend in ("torch", "np"):
        np.random.seed(0)
        torch.manual_seed(0)
        out[f"stiefel_{backend}_given"] = cases.problem_figures(cd, "stiefel", backend, given=True)
    return out


def layers(cd) -> dict:
    out = {}
    for name in cases.LAYERS:
        layer = cases.build_layer(cd, name)
        initial = {k: v.detach().clone() for k, v in layer.state_dict().items()}
        cases.perturb_(layer, name)
        checkpoint = {k: v.detach().clone() for k, v in layer.state_dict().items()}
        try:
            figures = cases.layer_figures(cd, layer, name)
        except RuntimeError as err:  # cdopt's get_quad_penalty fails on Bilinear_cdopt
            print(f"{name}: get_quad_penalty fails on cdopt ({err}); compared without it")
            layer.load_state_dict(checkpoint)
            figures = cases.layer_figures(cd, layer, name, penalty=False)
        out[name] = {"initial": initial, "state_dict": checkpoint, **figures}
    return out


def networks(cd) -> dict:
    lenet = {how: cases.lenet_figures(cd, how) for how in ("layers", "set_constraint_dissolving")}
    return {
        "lenet": {how: {"losses": r["losses"], "violation": r["violation"]}
                  for how, r in lenet.items()},
        "lstmcell_lbfgs": {k: v for k, v in cases.lstmcell_lbfgs_figures(cd).items()
                           if k != "initial"},
        "lenet_state": {how: r["initial"] for how, r in lenet.items()},
        "lstmcell_state": cases.lstmcell_lbfgs_figures(cd, steps=0)["initial"],
        "stateless": cases.stateless_figures(cd),
    }  # fmt: skip


def main() -> None:
    import cdopt

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # cdopt's own deprecation warnings with new NumPy/SciPy
    made_with = (f"cdopt {cdopt.__version__ if hasattr(cdopt, '__version__') else '0.5.5'}, "
                 f"torch {torch.__version__}, numpy {np.__version__}, {platform.machine()}")
    net = networks(cdopt)
    figures = {"_made_with": made_with, "problems": problems(cdopt),
               "auto_beta": {b: cases.auto_beta(cdopt, b) for b in ("torch", "np")},
               "lenet": net["lenet"], "lstmcell_lbfgs": net["lstmcell_lbfgs"]}  # fmt: skip
    DATA.mkdir(exist_ok=True)
    (DATA / "cdopt_reference.json").write_text(json.dumps(figures, indent=1) + "\n")
    tensors = {"_made_with": made_with, "layers": layers(cdopt), "lenet_state": net["lenet_state"],
               "lstmcell_state": net["lstmcell_state"], "stateless": net["stateless"]}  # fmt: skip
    torch.save(tensors, DATA / "cdopt_layers.pt")
    for path in ("cdopt_reference.json", "cdopt_layers.pt"):
        print(f"wrote tests/data/{path} ({(DATA / path).stat().st_size} bytes): {made_with}")


if __name__ == "__main__":
    main()
