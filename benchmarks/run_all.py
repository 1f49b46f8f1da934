"""Run every benchmark and write their tables into BENCHMARKS.md (``make bench``).

The tables replace whatever lies between the ``<!-- results -->`` and
``<!-- /results -->`` markers of the output file (the rest of the file, the
hand-written method and discussion, is kept); a file without the markers gets
them appended. Each script runs in this process, one after another; a script
that fails is reported in the output and the others still run.

    python benchmarks/run_all.py [--quick] [--device cuda] [--only bench_rnn_step,...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import machine_info  # noqa: E402

SCRIPTS = ("bench_rnn_step", "bench_lstm_step", "bench_large_linear", "bench_solver",
           "bench_mnist_epoch", "bench_copying_task")
BEGIN, END = "<!-- results -->", "<!-- /results -->"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default=None, help="override every script's thread list")
    p.add_argument("--only", default=None, help="comma-separated script names")
    p.add_argument("--output", type=Path, default=HERE.parent / "BENCHMARKS.md")
    return p.parse_args(argv)


def _run_one(name: str, args: argparse.Namespace) -> str:
    argv = ["--device", args.device] + (["--quick"] if args.quick else [])
    if args.threads:
        argv += ["--threads", args.threads]
    t0 = time.perf_counter()
    try:
        tables = importlib.import_module(name).main(argv)
        body = "\n".join(t.markdown() for t in tables)
    except Exception:  # noqa: BLE001 - one broken script must not hide the others
        body = "```\n" + traceback.format_exc() + "```\n"
    return f"## {name}.py ({time.perf_counter() - t0:.0f} s)\n\n{body}"


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def render(args: argparse.Namespace, sections: list[str], load_before: str) -> str:
    threads = args.threads or "1,2 (bench_solver: 2)"
    cmd = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    cmd += f" --only {args.only}" if args.only else ""
    head = [
        f"Generated {time.strftime('%Y-%m-%d %H:%M %Z')} by `{cmd}` (`make bench`).",
        f"Machine: {machine_info([threads], args.device)}.",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {_load()} "
        f"(on {os.cpu_count()} cores: a load above that means other processes shared the CPU).",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(sections)


def write(path: Path, text: str) -> None:
    """Put ``text`` between the result markers of ``path``, keeping everything else."""
    block = f"{BEGIN}\n{text}\n{END}"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in old and END in old:
        start, rest = old.split(BEGIN, 1)
        new = start + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> str:
    args = _parse(argv)
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        raise SystemExit(f"unknown script(s) {unknown}; choose from {', '.join(SCRIPTS)}")
    load_before = _load()
    sections = [_run_one(name, args) for name in names]
    text = render(args, sections, load_before)
    write(args.output, text)
    print(f"wrote {args.output}")
    return text


if __name__ == "__main__":
    main()
