"""The plugin's test suite: solvent's conformance kit, one line per manifold.

By name, so the test also proves the entry point is installed and registers
the manifold; by instance, to check non-default options.
"""

from solvent_special_linear import ScaledSphere

from solvent.pytest_plugin import conformance_test

test_special_linear = conformance_test("special_linear")
test_simplex = conformance_test("simplex")  # a chart manifold: the kit checks its map's rank


def test_scaled_sphere_radius(solvent_conformance):
    solvent_conformance(ScaledSphere(radius=2.5))
