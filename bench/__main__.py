"""`python -m bench [NAME …]`: run the benchmarks (all by default) and update docs/benchmarks.md."""

from __future__ import annotations

import sys

from bench import accept, dispatch, load, status_pages, verify_signature

BENCHMARKS = {"verify": verify_signature, "accept": accept, "dispatch": dispatch, "status": status_pages,
              "load": load}


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    for name in names:
        module = BENCHMARKS[name]
        print(f"== {module.NAME}")
        print(module.run())


if __name__ == "__main__":
    main()
