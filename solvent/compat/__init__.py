"""Compatibility layers for code written against other libraries.

See :mod:`solvent.compat.cdopt`.
"""

__all__ = ["cdopt"]
