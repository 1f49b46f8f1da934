"""The MNIST example over seeds: solvent, CDOpt's ``RNN_cdopt`` and a plain ``nn.RNN``.

Every run is the example's own training loop (``examples/mnist_rnn.py``: the
in-memory data, the seeded batch order, the test accuracy over all 10,000 test
images); only the model and its penalty differ:

- ``solvent``: ``weight_hh_l0`` constrained to Stiefel, ``beta=0.4`` (the example);
- ``cdopt``: CDOpt 0.5.5's ``RNN_cdopt(..., manifold_class=stiefel_torch,
  penalty_param=0.2)`` with ``get_quad_penalty`` (its tutorial; needs cdopt, which
  lives in the benchmark environment only);
- ``plain``: the same network with a plain ``nn.RNN``.

The seed sets the initial weights and the batch order; a seed gives all three
models the same raw initial weights (solvent then projects its ``W_hh`` onto the
manifold, CDOpt does not). Runs are resumable: a finished run is skipped, an
interrupted one continues from its checkpoint, so the command can be repeated
until the table is complete. Arguments after ``--`` go to the example (a recipe
other than the tutorial's, say); ``--tag`` names that setting's folder.

    python benchmarks/bench_mnist_seeds.py --seeds 0 1 2 3 4                  # train
    python benchmarks/bench_mnist_seeds.py --report --docs docs               # table + figure
    python benchmarks/bench_mnist_seeds.py --tag cosine --models solvent plain -- \\
        --epochs 20 --lr 1e-3 --schedule cosine --clip 1.0
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))

MODELS = ("solvent", "cdopt", "plain")
LABELS = {
    "solvent": "solvent (stiefel, beta 0.4)",
    "cdopt": "CDOpt RNN_cdopt (stiefel, penalty 0.2)",
    "plain": "plain nn.RNN",
}


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--tag", default="tutorial", help="name of the setting (a folder of --runs)")
    p.add_argument("--runs", type=Path, default=Path("runs/mnist_seeds"))
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report", action="store_true", help="only summarise the finished runs")
    p.add_argument("--docs", type=Path, default=None, help="write the table json + figure here")
    return p.parse_args(argv), extra


class CdoptRowRNN(nn.Module):
    """The example's network with CDOpt's constrained RNN (the tutorial's layer)."""

    def __init__(self, hidden: int, input_size: int) -> None:
        super().__init__()
        from cdopt.manifold_torch import stiefel_torch
        from cdopt.nn import RNN_cdopt

        self.rnn = RNN_cdopt(
            input_size, hidden, batch_first=True, manifold_class=stiefel_torch, penalty_param=0.2
        )
        self.fc = nn.Linear(hidden, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(images)
        return self.fc(h[-1])


def _model_hooks(name: str, cfg: argparse.Namespace) -> dict:
    """train()'s model, penalty and violation for one of MODELS."""
    import mnist_rnn

    if name != "cdopt":
        cfg.unconstrained = name == "plain"
        return {"model": mnist_rnn.build_model(cfg), "label": LABELS[name]}
    from cdopt.nn import get_quad_penalty

    if cfg.cell != "tanh":
        raise SystemExit(f"CDOpt's RNN_cdopt is a tanh nn.RNN; --cell {cfg.cell} has no CDOpt run")
    torch.manual_seed(cfg.seed)  # the same draws, in the same order, as mnist_rnn.RowRNN
    model = CdoptRowRNN(cfg.hidden, 1 if cfg.pixel else 28).to(cfg.device)

    def violation(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"rnn.weight_hh_l0": float(m.rnn.feasibility())}

    return {
        "model": model,
        "penalty": get_quad_penalty,
        "violation": violation,
        "label": LABELS[name],
    }


def _run_dir(args, name: str, seed: int) -> Path:
    return args.runs / args.tag / name / f"seed{seed}"


def _done(folder: Path) -> bool:
    path = folder / "metrics.json"
    return path.exists() and json.loads(path.read_text()).get("complete", False)


def train_all(args, extra: list[str]) -> None:
    """Each seed, each model in turn (interleaved, so a cut-short plan stays balanced)."""
    import mnist_rnn
    from mnist_data import load_mnist

    torch.set_num_threads(args.threads)
    base = mnist_rnn.parse_args([*extra, "--data", str(args.data)])
    data = load_mnist(base.data, base.device, base.limit, base.test_limit)
    data = mnist_rnn.to_sequences(data, base.pixel, base.permute, base.perm_seed)
    for seed in args.seeds:
        for name in args.models:
            folder = _run_dir(args, name, seed)
            if _done(folder):
                continue
            cfg = mnist_rnn.parse_args(
                [
                    *extra,
                    "--data",
                    str(args.data),
                    "--seed",
                    str(seed),
                    "--out",
                    str(folder),
                    "--threads",
                    str(args.threads),
                    "--resume",
                ]
            )
            cfg.bench_model = name
            hooks = _model_hooks(name, cfg)
            mnist_rnn.train(cfg, data, **hooks)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return statistics.fmean(values), sd


def collect(args) -> dict:
    """The finished runs of one setting, summarised per model."""
    out = {"tag": args.tag, "models": {}}
    for name in MODELS:
        runs = [
            json.loads((f / "metrics.json").read_text())
            for f in sorted((args.runs / args.tag / name).glob("seed*"))
            if _done(f)
        ]
        if not runs:
            continue
        final = [r["final_test_acc"] for r in runs]
        best = [r["best_test_acc"] for r in runs]
        curves = [[e["test_acc"] for e in r["epochs"]] for r in runs]
        out["models"][name] = {
            "label": LABELS[name],
            "seeds": [r["config"]["seed"] for r in runs],
            "final_test_acc": final,
            "best_test_acc": best,
            "final_mean_sd": _mean_sd(final),
            "best_mean_sd": _mean_sd(best),
            "test_acc_curves": curves,
            "final_violation": [
                max(r["epochs"][-1]["violation"].values(), default=0.0) for r in runs
            ],
            "mean_epoch_wall_s": statistics.median(r["mean_epoch_wall_s"] for r in runs),
            "test_size": runs[0]["test_size"],
            "config": {
                k: v
                for k, v in runs[0]["config"].items()
                if k not in ("seed", "out", "resume", "data", "bench_model")
            },
        }
    return out


def table(summary: dict) -> str:
    """A markdown table: mean ± sd over the seeds of the final and the best test accuracy."""
    rows = [
        "| model | seeds | final test acc. (mean ± sd) | best epoch (mean ± sd) "
        "| per seed (final) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in summary["models"].values():
        (fm, fs), (bm, bs) = m["final_mean_sd"], m["best_mean_sd"]
        per = ", ".join(f"{a:.2%}" for a in m["final_test_acc"]).replace("%", "")
        rows.append(
            f"| {m['label']} | {len(m['seeds'])} | {fm:.2%} ± {fs:.2%} | {bm:.2%} ± {bs:.2%} "
            f"| {per} |"
        )
    return "\n".join(rows)


def plot(summary: dict, path: Path) -> None:
    """Mean ± sd of the test accuracy per epoch, one band per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = {"solvent": "o-", "cdopt": "x--", "plain": "s-"}  # CDOpt's line can sit on solvent's
    for k, (name, m) in enumerate(summary["models"].items()):
        curves = torch.tensor(m["test_acc_curves"], dtype=torch.float64) * 100
        mean = curves.mean(0)
        sd = curves.std(0) if len(curves) > 1 else torch.zeros_like(mean)
        ep = range(1, len(mean) + 1)
        style = styles.get(name, "o-")
        ax.plot(ep, mean, style, c=f"C{k}", ms=4, label=f"{m['label']} ({len(curves)} seeds)")
        ax.fill_between(ep, mean - sd, mean + sd, color=f"C{k}", alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy [%] (all test images)")
    ax.set_title(f"sequential MNIST, setting '{summary['tag']}': mean ± sd over seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(args) -> dict:
    summary = collect(args)
    print(table(summary))
    if args.docs is not None:
        args.docs.mkdir(parents=True, exist_ok=True)
        stem = f"mnist_seeds_{args.tag}"
        (args.docs / f"{stem}.json").write_text(json.dumps(summary, indent=1))
        plot(summary, args.docs / f"{stem}.png")
        print(f"wrote {args.docs / (stem + '.json')} and {args.docs / (stem + '.png')}")
    return summary


def main(argv: list[str] | None = None) -> dict:
    args, extra = parse_args(argv)
    if not args.report:
        train_all(args, extra)
    return report(args)


if __name__ == "__main__":
    main()
