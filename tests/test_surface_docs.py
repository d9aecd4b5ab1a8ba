"""A bench's docs do not depend on what else the building process imported."""

from __future__ import annotations

import sys

import pytest


def test_docs_edited_in_place_by_another_library_are_read_as_the_library_ships_them():
    import numpy

    from selfevolve_lab.obfuscate.surface import introspect

    shipped = numpy.sinc.__doc__
    try:
        numpy.sinc.__doc__ = shipped + "\n    Array API Standard Support: set SCIPY_ARRAY_API=1\n"  # what SciPy does
        docs = {it.original: it.doc for it in introspect("numpy").items}
    finally:
        numpy.sinc.__doc__ = shipped
    assert "SCIPY_ARRAY_API" not in docs["numpy.sinc"]
    assert docs["numpy.sinc"].startswith("Return the normalized sinc function")


def test_scikit_learn_imported_first_changes_nothing():
    pytest.importorskip("sklearn")
    import sklearn  # noqa: F401  imports SciPy, which edits numpy.sinc's docstring

    from selfevolve_lab.obfuscate.surface import introspect

    assert "scipy" in sys.modules
    assert "SCIPY" not in {it.original: it.doc for it in introspect("numpy").items}["numpy.sinc"]
