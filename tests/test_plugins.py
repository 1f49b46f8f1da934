"""The plugin manager and registry: built-ins, installed plugins (faked) and run-time plugins.

Installed plugins are faked by monkeypatching ``importlib.metadata.entry_points``,
the one function the manager reads them through; every test starts from a
fresh plugin manager (the ``fresh_registry`` fixture).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import types

import pluggy
import pytest
import torch

import solvent
from solvent.exceptions import (
    DuplicateManifoldError,
    ManifoldOptionError,
    PluginLoadWarning,
    UnknownManifoldError,
)
from solvent.manifolds import Euclidean, Stiefel
from solvent.plugins import ENTRY_POINT_GROUP, builtin, manager

pytest_plugins = ["pytester"]


@dataclasses.dataclass
class FakeEntryPoint:
    """What the manager uses of an ``importlib.metadata.EntryPoint``."""

    name: str
    target: object  # the loaded plugin, or an exception that loading raises
    dist: object = None

    def load(self) -> object:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def dist(name: str, version: str = "1.0") -> types.SimpleNamespace:
    return types.SimpleNamespace(name=name, version=version)


def plugin(*names: str, fail: Exception | None = None) -> object:
    """A plugin object registering each name (as Euclidean), then raising ``fail`` if given."""

    class Plugin:
        @solvent.hookimpl
        def solvent_register_manifolds(self, register):
            for name in names:
                register(name, Euclidean)
            if fail is not None:
                raise fail

    return Plugin()


@pytest.fixture
def installed(monkeypatch, fresh_registry):
    """Call with FakeEntryPoints: they become the only installed plugins."""

    def install(*eps: FakeEntryPoint) -> None:
        def entry_points(*, group: str):
            assert group == ENTRY_POINT_GROUP
            return list(eps)

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        fresh_registry.reset()

    return install


def test_builtins_come_through_the_hook(installed):
    installed()
    pm = manager.get_plugin_manager()
    assert pm.get_plugin("solvent.builtin") is builtin
    hook_owners = [impl.plugin for impl in pm.hook.solvent_register_manifolds.get_hookimpls()]
    assert hook_owners == [builtin]
    entries = manager.registry()
    assert set(entries) == set(builtin.BUILTINS)
    assert all(getattr(f, "name", name) == name for name, f in builtin.BUILTINS.items())
    assert entries["stiefel"].factory is Stiefel
    assert {e.source for e in entries.values()} == {"built-in"}


def test_unknown_name_lists_available_names(fresh_registry):
    with pytest.raises(UnknownManifoldError) as info:
        solvent.manifold("stiefle")
    message = str(info.value)
    assert "'stiefle'" in message and "Did you mean 'stiefel'?" in message
    for name in solvent.available():
        assert name in message


def test_installed_plugin_is_loaded_with_its_distribution(installed):
    installed(FakeEntryPoint("good", plugin("good_a", "good_b"), dist("solvent-good", "2.3")))
    entries = manager.registry()
    assert entries["good_a"].source == "solvent-good 2.3"
    assert entries["good_b"].plugin == "good"
    assert isinstance(solvent.manifold("good_a"), Euclidean)


def test_plugin_failing_to_import_is_reported_and_others_load(installed):
    installed(
        FakeEntryPoint("broken", ModuleNotFoundError("No module named 'numpyy'"),
                       dist("solvent-broken")),
        FakeEntryPoint("good", plugin("good_a"), dist("solvent-good")),
    )
    with pytest.warns(PluginLoadWarning, match=r"'broken' \(solvent-broken 1.0\).*numpyy"):
        names = solvent.available()
    assert "good_a" in names and "stiefel" in names
    assert manager.get_plugin_manager().get_plugin("broken") is None


def test_duplicate_name_is_an_error_naming_both(installed):
    installed(
        FakeEntryPoint("first", plugin("twin"), dist("solvent-first", "1.1")),
        FakeEntryPoint("second", plugin("twin"), dist("solvent-second", "0.2")),
    )
    with pytest.raises(DuplicateManifoldError) as info:
        solvent.available()
    message = str(info.value)
    assert "'twin'" in message
    assert "'first' (solvent-first 1.1)" in message and "'second' (solvent-second 0.2)" in message


def test_plugin_claiming_a_builtin_name_is_an_error(installed):
    installed(FakeEntryPoint("rogue", plugin("stiefel"), dist("solvent-rogue")))
    with pytest.raises(DuplicateManifoldError, match="built-in.*solvent-rogue"):
        solvent.manifold("stiefel")


def test_same_entry_point_name_twice_is_reported_not_silent(installed):
    installed(
        FakeEntryPoint("same", plugin("from_a"), dist("solvent-a")),
        FakeEntryPoint("same", plugin("from_b"), dist("solvent-b")),
    )
    with pytest.warns(PluginLoadWarning, match=r"solvent-b.*skipped.*solvent-a"):
        names = solvent.available()
    assert "from_a" in names and "from_b" not in names


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_autoload_can_be_switched_off(installed, monkeypatch, value):
    installed(FakeEntryPoint("good", plugin("good_a")))
    monkeypatch.setenv(manager.DISABLE_AUTOLOAD_ENV, value)
    assert "good_a" not in solvent.available()
    assert "stiefel" in solvent.available()
    monkeypatch.setenv(manager.DISABLE_AUTOLOAD_ENV, "0")
    manager.reset()
    assert "good_a" in solvent.available()


def test_plugin_whose_hook_raises_contributes_nothing(installed):
    installed(
        FakeEntryPoint("flaky", plugin("partial_a", fail=RuntimeError("boom")),
                       dist("solvent-flaky")),
        FakeEntryPoint("good", plugin("good_a")),
    )
    with pytest.warns(PluginLoadWarning, match=r"'flaky'.*RuntimeError\('boom'\)"):
        names = solvent.available()
    assert "partial_a" not in names
    assert "good_a" in names


def test_installed_plugin_with_misspelled_hook_is_reported(installed):
    class Misspelled:
        @solvent.hookimpl
        def solvent_register_manifold(self, register):  # missing "s"
            register("never", Euclidean)

    installed(FakeEntryPoint("typo", Misspelled()), FakeEntryPoint("good", plugin("good_a")))
    with pytest.warns(PluginLoadWarning, match="'typo'.*solvent_register_manifold"):
        names = solvent.available()
    assert "good_a" in names and "never" not in names
    assert manager.get_plugin_manager().get_plugin("typo") is None


def test_register_plugin_is_all_or_nothing(installed):
    installed()
    clash = plugin("fresh_one", "stiefel")
    with pytest.raises(DuplicateManifoldError, match="'stiefel'"):
        manager.register_plugin(clash, name="clash")
    assert "fresh_one" not in solvent.available()
    assert manager.get_plugin_manager().get_plugin("clash") is None
    # the same name is free again, and a good plugin registers and unregisters cleanly
    manager.register_plugin(plugin("fresh_one"), name="clash")
    assert solvent.manifold("fresh_one") == Euclidean()
    manager.unregister_plugin("clash")
    assert "fresh_one" not in solvent.available()


def test_register_plugin_rejects_a_misspelled_hook(installed):
    installed()

    class Misspelled:
        @solvent.hookimpl
        def solvent_register_manifold(self, register):
            register("never", Euclidean)

    with pytest.raises(pluggy.PluginValidationError, match="solvent_register_manifold"):
        manager.register_plugin(Misspelled(), name="typo")
    assert manager.get_plugin_manager().get_plugin("typo") is None
    assert "never" not in solvent.available()


def test_register_plugin_raises_its_own_errors_and_keeps_nothing(installed):
    installed()
    for bad in ("has space", "", "9lives"):
        with pytest.raises(ValueError, match="invalid name"):
            manager.register_plugin(plugin("fine_a", bad), name="bad_name")
    with pytest.raises(RuntimeError, match="boom"):
        manager.register_plugin(plugin("fine_a", fail=RuntimeError("boom")), name="flaky")

    class NotCallable:
        @solvent.hookimpl
        def solvent_register_manifolds(self, register):
            register("fine_b", 42)

    with pytest.raises(TypeError, match="non-callable"):
        manager.register_plugin(NotCallable(), name="not_callable")
    pm = manager.get_plugin_manager()
    assert [pm.get_plugin(n) for n in ("bad_name", "flaky", "not_callable")] == [None] * 3
    assert not {"fine_a", "fine_b"} & set(solvent.available())


def test_hook_taking_no_arguments_is_called(installed):
    calls = []

    class NoArgs:
        @solvent.hookimpl
        def solvent_register_manifolds(self):
            calls.append(True)

    installed()
    manager.register_plugin(NoArgs(), name="no_args")
    assert calls == [True]


def test_manifold_instance_passes_through(fresh_registry):
    M = Stiefel()
    assert solvent.manifold(M) is M
    with pytest.raises(TypeError, match="ready"):
        solvent.manifold(M, beta=1.0)
    with pytest.raises(TypeError, match="registered name or a Manifold"):
        solvent.manifold(3)


def test_example_plugin_is_installed_with_its_distribution(fresh_registry):
    """examples/plugin is installed (make test does it) and found through the normal registry."""
    version = importlib.metadata.version("solvent-special-linear")
    entries = manager.registry()
    for name in ("special_linear", "scaled_sphere", "simplex"):
        assert entries[name].plugin == "special_linear"
        assert entries[name].distribution.replace("_", "-") == "solvent-special-linear"
        assert entries[name].source.endswith(version)
    assert not solvent.manifolds.is_closed_form(solvent.manifold("special_linear"))
    assert solvent.manifolds.is_closed_form(solvent.manifold("scaled_sphere"))


def test_unknown_option_names_the_accepted_ones(fresh_registry):
    """Checked against the factory's signature before the call, for built-ins and plugins."""
    with pytest.raises(ManifoldOptionError) as info:
        solvent.manifold("generalized_stiefel", colour="blue")
    message = str(info.value)
    assert "unknown option 'colour'" in message and "Accepted options: B=None" in message
    assert isinstance(info.value, TypeError) and info.value.accepted == ("B",)
    with pytest.raises(ManifoldOptionError, match=r"'ndmi' \(did you mean 'ndim'\?\)"):
        solvent.manifold("sphere", ndmi=2)
    with pytest.raises(ManifoldOptionError, match=r"no options: solvent.manifold\('stiefel'\)"):
        solvent.manifold("stiefel", n=4)
    with pytest.raises(ManifoldOptionError, match="unknown option 'size'.*radius=1.0"):
        solvent.manifold("scaled_sphere", size=2)  # the installed example plugin
    assert solvent.manifold("sphere", ndim=2).ndim == 2  # accepted options still work


def test_constrain_with_an_unknown_option_names_the_accepted_ones(fresh_registry):
    lin = torch.nn.Linear(3, 4)
    before = {k: v.clone() for k, v in lin.state_dict().items()}
    with pytest.raises(ManifoldOptionError, match="unknown option 'colour'.*B=None"):
        solvent.constrain(lin, "weight", "generalized_stiefel", colour="blue")
    assert lin.state_dict().keys() == before.keys()  # nothing registered
    assert all(torch.equal(lin.state_dict()[k], v) for k, v in before.items())


def test_required_and_free_options_of_plugin_factories(installed):
    def sized(size, *, scale=1.0):
        return Euclidean()

    def anything(**options):
        return Euclidean()

    class Factories:
        @solvent.hookimpl
        def solvent_register_manifolds(self, register):
            register("sized", sized)
            register("anything", anything)

    installed()
    manager.register_plugin(Factories(), name="factories")
    assert manager.registry()["sized"].options == {"size": "", "scale": "=1.0"}
    with pytest.raises(ManifoldOptionError) as info:
        solvent.manifold("sized", scael=2.0)
    assert str(info.value).startswith(
        "sized: unknown option 'scael' (did you mean 'scale'?); missing required option 'size'."
    )
    assert isinstance(solvent.manifold("sized", size=3), Euclidean)
    assert manager.registry()["anything"].options is None  # **options: the factory decides
    assert isinstance(solvent.manifold("anything", colour="blue"), Euclidean)


PLUGIN_AUTHOR_TESTS = """
import solvent
from solvent.pytest_plugin import conformance_test


class WrongSphere(solvent.Manifold):
    name = "wrong_sphere"
    ndim = 1
    supports_complex = False

    def _constraint(self, X):
        return X.square().sum(-1) - 1

    def _dissolve(self, X):  # not a dissolving map: A(X) != X on the sphere
        return 2 * X

    def _project(self, X, **_):
        return X / X.norm(dim=-1, keepdim=True)


test_scaled_sphere = conformance_test("scaled_sphere", dtypes=["float64"])
test_wrong = conformance_test(WrongSphere(), dtypes=["float64", "complex128"])


def test_fixture_passes(solvent_conformance):
    solvent_conformance("euclidean", dtypes=["float64"])


def test_fixture_fails(solvent_conformance):
    solvent_conformance(WrongSphere(), shapes=[(3,)])
"""


def test_pytest_plugin_gives_plugin_authors_a_one_line_test(pytester):
    """A plain pytest run picks up the pytest11 plugin: passes pass, failures fail readably."""
    pytester.makepyfile(test_author=PLUGIN_AUTHOR_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*_ test_wrong?float64? _*",
        "*[[]float64[]] conformance of 'wrong_sphere':*",
        "*FAIL  A(X) = X on M*",
        "*wrong_sphere does not take complex128 points*",
    ])
    failed = {r.nodeid for r in result.reprec.getreports("pytest_runtest_logreport") if r.failed}
    assert failed == {"test_author.py::test_wrong[float64]",
                      "test_author.py::test_fixture_fails"}
