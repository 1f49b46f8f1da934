"""Every benchmark script runs in quick mode here, where the peer libraries are absent.

No timing is asserted (the machine is shared and noisy): only that each script
runs, skips the missing peers by name, times solvent and the torch references,
and that the facts that are not timings hold (one map evaluation per step, the
solver reaching its tolerance). ``run_all``'s marker handling is tested on a
small file.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
QUICK = ["--quick", "--threads", "1", "--reps", "2"]


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.syspath_prepend(str(BENCH.parent / "examples"))
    return lambda name: importlib.import_module(name)


def _rows(table) -> dict[str, list[str]]:
    return {row[0]: row for row in table.rows}


@pytest.mark.parametrize("script", ["bench_rnn_step", "bench_lstm_step"])
def test_recurrent_step_quick(bench, script):
    (table,) = bench(script).main(QUICK)
    rows = _rows(table)
    for name in ("solvent", "torch (unconstrained)", "dissolving map alone (fwd+bwd)",
                 "torch orthogonal (cayley)"):
        assert float(rows[name][1]) > 0, name
    notes = "\n".join(table.notes)
    assert "evaluations per solvent step: **1**" in notes
    assert "MISSED" in notes or "met" in notes


def test_large_linear_quick(bench):
    tables = bench("bench_large_linear").main(QUICK)
    assert len(tables) == 2  # two batch sizes, one thread count
    for table in tables:
        rows = _rows(table)
        assert float(rows["solvent"][1]) > 0 and float(rows["map's 5 matmuls alone"][1]) > 0


def test_solver_quick_reaches_tolerance(bench):
    tables = bench("bench_solver").main(QUICK)
    assert tables
    for table in tables:
        solvent_rows = [r for r in table.rows if r[0].startswith("solvent")]
        assert solvent_rows, table.title
        for row in solvent_rows:
            assert not any("not reached" in str(cell) for cell in row), (table.title, row)


def test_overhead_quick(bench):
    maps, steps = bench("bench_overhead").main(QUICK)
    assert [r[0] for r in maps.rows][:1] == ["plain torch ops"]
    assert any(r[0] == "solvent.constrain" for r in steps.rows)


def test_mnist_epoch_quick(bench):
    (table,) = bench("bench_mnist_epoch").main(QUICK)
    assert len(table.rows) == 2
    assert all(float(row[1]) > 0 for row in table.rows)


def test_missing_peer_is_a_skip(bench):
    harness = bench("_harness")
    with pytest.raises(harness.Skip, match="not installed"):
        harness.optional_import("surely_not_a_module_named_like_this")
    fns, skipped = harness.build({"ok": lambda: (lambda: None),
                                  "broken": lambda: (lambda: 1 / 0)})
    assert list(fns) == ["ok"] and "ZeroDivisionError" in skipped["broken"]
    with pytest.raises(ZeroDivisionError):
        harness.build({"broken": lambda: (lambda: 1 / 0)}, required=("broken",))


def test_run_all_keeps_text_outside_markers(bench, tmp_path):
    run_all = bench("run_all")
    path = tmp_path / "B.md"
    path.write_text("# Title\n\nintro\n")
    run_all.write(path, "first")
    run_all.write(path, "second")
    text = path.read_text()
    assert text.startswith("# Title\n\nintro\n")
    assert "second" in text and "first" not in text
    assert text.count(run_all.BEGIN) == 1 and text.count(run_all.END) == 1


def test_count_dissolves_counts_top_level_calls_once(bench):
    import torch

    import solvent

    M = solvent.manifold("euclidean")  # its dissolve_with_constraint calls dissolve inside
    counter = bench("_harness").count_dissolves(M)
    x = torch.zeros(3, dtype=torch.float64)
    M.dissolve_with_constraint(x)
    assert counter.count == 1
    M.dissolve(x)
    assert counter.count == 2
    counter.reset()
    assert counter.count == 0


def test_copying_task_quick(bench):
    """The copying-task model runs for solvent (with and without cached()) and skips geotorch."""
    (table,) = bench("bench_copying_task").main(QUICK)
    rows = _rows(table)
    for name in ("unconstrained", "solvent + solvent.cached()", "solvent, no scope"):
        assert float(rows[name][1]) > 0, name
    assert any(n.startswith("skipped") and "geotorch" in n for n in table.notes)


@pytest.mark.parametrize("script", ["bench_maps_open", "bench_maps_factor"])
def test_catalogue_maps_quick(bench, script):
    """Every new map takes its training step at a tiny size; absent peers are skipped by name."""
    tables = bench(script).main(QUICK)
    assert tables
    for table in tables:
        median = table.columns.index("median ms")
        if "contender" in table.columns:  # solvent beside the peers (storage tables: solvent only)
            who = table.columns.index("contender")
            assert any(row[who].startswith("solvent") for row in table.rows), table.title
        assert table.rows and all(float(row[median]) > 0 for row in table.rows), table.title
