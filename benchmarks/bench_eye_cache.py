"""The identity built per call against a process-wide cached one, in the maps that use it.

The map's hot path (``_dissolve_with_constraint``, penalty, backward: what a
constrained layer runs per step) is timed with ``eye_like`` as shipped (a
fresh ``torch.eye`` per call) and with an ``lru_cache``d identity, the way it
was before the cache was dropped (it was captured by torch.func transforms:
Note [no tensor cache] in ``solvent/manifolds/_linalg.py``). Both contenders
run interleaved in one process; the ratio is fresh / cached (1.00 = no cost).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_eye_cache.py [--quick] [--reps 200]
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _harness import Table, fmt_ms, make_parser, resolve, time_interleaved  # noqa: E402

import solvent  # noqa: E402
from solvent.manifolds import _linalg, stiefel, symplectic_stiefel  # noqa: E402

CASES = [("stiefel", (16, 16)), ("stiefel", (150, 150)), ("stiefel", (256, 256)),
         ("stiefel", (1024, 256)), ("symplectic_stiefel", (16, 8))]  # fmt: skip
QUICK_CASES = [("stiefel", (16, 16)), ("symplectic_stiefel", (8, 4))]
MODULES = {"stiefel": stiefel, "symplectic_stiefel": symplectic_stiefel}


@functools.lru_cache(maxsize=64)
def _cached_eye(p: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.eye(p, dtype=dtype, device=device)


def cached_eye_like(X: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """The former helper: one identity per (size, dtype, device), kept for the process."""
    return _cached_eye(X.shape[-1] if size is None else size, X.dtype, X.device)


def step(M, X: torch.Tensor, module, eye) -> None:
    """One hot-path evaluation with ``eye`` as the module's identity helper."""
    module.eye_like = eye
    A, C = M._dissolve_with_constraint(X)
    (A.square().sum() + M.penalty_from_constraint(C)).backward()


def main(argv: list[str] | None = None) -> list[Table]:
    args = resolve(make_parser(__doc__.splitlines()[0], threads="1", reps=200).parse_args(argv))
    torch.set_num_threads(args.thread_list[0])
    table = Table(
        "Identity per call vs cached (map fwd + penalty + bwd, float32, CPU)",
        ["manifold", "shape", "fresh eye", "cached eye", "fresh / cached"],
    )
    for name, shape in QUICK_CASES if args.quick else CASES:
        M, module = solvent.manifold(name), MODULES[name]
        X = M.random(*shape, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
        X = (X + 0.01 * torch.randn_like(X)).requires_grad_()
        stats = time_interleaved(
            {
                "fresh": lambda: step(M, X, module, _linalg.eye_like),
                "cached": lambda: step(M, X, module, cached_eye_like),
            },
            reps=args.reps,
            warmup=args.warmup,
        )
        module.eye_like = _linalg.eye_like
        ratio = stats["fresh"].median / stats["cached"].median
        table.rows.append([name, "x".join(map(str, shape)), fmt_ms(stats["fresh"].median),
                           fmt_ms(stats["cached"].median), f"{ratio:.3f}"])  # fmt: skip
    print(table.markdown())
    return [table]


if __name__ == "__main__":
    main()
