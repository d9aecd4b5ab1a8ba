"""The standard library's ``statistics``: the second profile, proof that the seam holds for another library.

Its functions take plain lists, so references pass inputs as they are; the generic patterns fit them all.
"""

from __future__ import annotations

from selfevolve_lab.profiles import LibraryProfile

PROFILE = LibraryProfile("statistics")
