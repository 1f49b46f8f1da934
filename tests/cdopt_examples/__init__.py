"""Small ports of CDOpt 0.5.5's documented examples (cdopt/cdopt.github.io).

Each file is the example's code with ``cdopt`` replaced by
``solvent.compat.cdopt`` and nothing else changed in how it uses the API; to
run in the test suite in seconds the sizes are parameters of ``main()`` (small
defaults), data downloads are replaced by :mod:`._data`, and plotting and
printing are left out. ``main()`` returns the figures the tests assert on.
``make_reference.py`` runs the same files with the substitution undone
against the real cdopt to produce the reference numbers stored in the tests.
"""
