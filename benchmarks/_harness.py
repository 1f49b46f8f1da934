"""The timing method every benchmark script shares.

All contenders run in one process, interleaved: repetition r times A, B, C, ...
and repetition r + 1 times them in reverse order, so a slow drift of the shared
machine (another process starting) hits every contender alike. Each contender
is warmed up first; the garbage collector is off while timing; on CUDA the
device is synchronized before and after each timed call. Statistics are the
median with the interquartile range and the extremes; ratios are taken against
a reference timed in the same loop.

A peer library that is not installed is a :class:`Skip`, never an error: the
scripts must run in ``.venv`` (solvent and torch only) as well as in
``.venv-bench`` (with every peer).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import torch

__all__ = [
    "Skip",
    "Stats",
    "Table",
    "build",
    "count_dissolves",
    "fmt_ms",
    "floor_table",
    "fmt_ratio",
    "machine_info",
    "make_parser",
    "optional_import",
    "resolve",
    "sync",
    "time_interleaved",
    "write_tables",
]


class Skip(Exception):
    """A contender that cannot run here (a peer not installed, a size it cannot handle)."""


def optional_import(name: str) -> ModuleType:
    """Import a peer library or raise :class:`Skip` saying it is not installed."""
    try:
        with warnings.catch_warnings():  # a peer's own deprecation noise is not ours to show
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except ImportError as err:
        raise Skip(f"{name} not installed ({err.name or name})") from err


@dataclass(frozen=True)
class Stats:
    """Seconds per call over the timed repetitions."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        s = sorted(samples)
        if len(s) >= 4:
            q1, _, q3 = statistics.quantiles(s, n=4)
        else:
            q1, q3 = s[0], s[-1]
        return cls(statistics.median(s), q1, q3, s[0], s[-1], len(s))

    def spread(self) -> str:
        """The interquartile range, in milliseconds."""
        return f"{self.q1 * 1e3:.3g}–{self.q3 * 1e3:.3g}"


def sync(device: torch.device | str) -> None:
    """Wait for queued device work (CUDA); a no-op on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    reps: int,
    warmup: int,
    device: torch.device | str = "cpu",
) -> dict[str, Stats]:
    """Time every callable ``reps`` times, interleaved, after ``warmup`` untimed calls each."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for r in range(reps):
            for name in names if r % 2 == 0 else names[::-1]:
                sync(device)
                t0 = time.perf_counter()
                fns[name]()
                sync(device)
                samples[name].append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return {name: Stats.of(s) for name, s in samples.items()}


class count_dissolves:  # noqa: N801 - used like a function: with count_dissolves(M) as c
    """Count top-level evaluations of a manifold instance's dissolving map.

    Wraps the map (public methods and protected hooks) on the instance (not the
    class); a call made from inside another counted call is not counted again.
    """

    def __init__(self, manifold) -> None:
        self.manifold = manifold
        self.count = 0
        self._depth = 0
        for meth in (
            "_dissolve", "_dissolve_with_constraint", "dissolve", "dissolve_with_constraint"
        ):
            setattr(manifold, meth, self._wrap(getattr(manifold, meth)))

    def _wrap(self, fn: Callable) -> Callable:
        def counted(*args, **kwargs):
            self.count += self._depth == 0
            self._depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1

        return counted

    def reset(self) -> None:
        self.count = 0


@dataclass
class Table:
    """One markdown table with a title and notes (targets, skipped contenders)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        out = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        out.append("|" + " --- |" * len(self.columns))
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        out += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"


def floor_table(title: str, stats: dict, floor: float, floor_label: str, sol: float) -> Table:
    """A table of every contender's median, spread and ratios to the floor and to solvent."""
    t = Table(title, ["contender", "median ms", "IQR ms", "min–max ms", "÷ floor", "÷ solvent"])
    t.rows.append([f"**floor** = {floor_label}", fmt_ms(floor), "", "", "1.00x",
                   fmt_ratio(floor / sol)])
    for name, s in stats.items():
        t.rows.append([name, fmt_ms(s.median), s.spread(), f"{fmt_ms(s.min)}–{fmt_ms(s.max)}",
                       fmt_ratio(s.median / floor), fmt_ratio(s.median / sol)])
    return t


def fmt_ms(seconds: float) -> str:
    """Milliseconds with three significant digits."""
    return f"{seconds * 1e3:.3g}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"


def machine_info(threads: Sequence[int], device: str) -> str:
    """One line naming the CPU (or GPU), core count, torch version and threads."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    where = cpu
    if torch.device(device).type == "cuda":
        where = f"{torch.cuda.get_device_name()} (host: {cpu})"
    return (
        f"{where}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
        f"Python {platform.python_version()}, threads {', '.join(map(str, threads))}"
    )


def make_parser(
    description: str, *, threads: str = "1,2", reps: int = 20
) -> argparse.ArgumentParser:
    """The options every script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions (seconds)")
    p.add_argument(
        "--threads", default=threads, help=f"comma-separated torch thread counts ({threads})"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--reps", type=int, default=None, help=f"timed repetitions ({reps}; quick: 3)")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed calls per contender (3; quick: 1)"
    )
    p.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    p.set_defaults(default_reps=reps)
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the quick-dependent defaults and parse the thread list."""
    if args.reps is None:
        args.reps = 3 if args.quick else args.default_reps
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    args.thread_list = [int(t) for t in str(args.threads).split(",") if t]
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    return args


def write_tables(tables: Sequence[Table], path: Path | None) -> str:
    """Print the tables and, if asked, write them to ``path``."""
    text = "\n".join(t.markdown() for t in tables)
    print(text)
    if path is not None:
        path.write_text(text)
    return text


def build(
    builders: dict[str, Callable[[], Callable[[], object]]], *, required: Sequence[str] = ()
) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """Set every contender up and call it once; a peer that cannot run is skipped with a reason.

    Contenders named in ``required`` (solvent, the torch references) must run:
    their errors propagate.
    """
    fns: dict[str, Callable[[], object]] = {}
    skipped: dict[str, str] = {}
    for name, builder in builders.items():
        try:
            fn = builder()
            fn()
        except Skip as err:
            skipped[name] = str(err)
            continue
        except Exception as err:  # noqa: BLE001 - a broken peer is reported, not fatal
            if name in required:
                raise
            skipped[name] = f"failed: {type(err).__name__}: {str(err)[:120]}"
            continue
        fns[name] = fn
    return fns, skipped
