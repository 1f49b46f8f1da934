"""Compatibility layers for code written against other libraries (see :mod:`solvent.compat.cdopt`)."""

__all__ = ["cdopt"]
