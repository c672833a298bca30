"""File names inside a parcel: a resident may attach two files of one name, and a back office needs one
name per file (the names also tell a redelivery what is there already)."""

from __future__ import annotations


def unique(name: str, taken: set[str]) -> str:
    """`name`, or else `name-2`, `name-3` … (the number before the extension), whichever is not in `taken`;
    the name chosen is added to `taken`."""
    stem, dot, suffix = name.rpartition(".")
    number = 2
    chosen = name
    while chosen in taken:
        chosen = f"{stem}-{number}{dot}{suffix}" if dot else f"{name}-{number}"
        number += 1
    taken.add(chosen)
    return chosen
