"""Writing a benchmark's figures into docs/benchmarks.md, with the machine and the date."""

from __future__ import annotations

import datetime
import gc
import os
import platform
import re
import statistics
import subprocess
from pathlib import Path


def steady_client() -> None:
    """Call before measuring. The load generator prepared its data with the portal's own code, so it holds a
    few hundred thousand objects; a full garbage collection over them stalls its event loop for 100 ms and
    more, and every request in flight would count that stall as the server's latency. Frozen, they are
    never scanned again."""
    gc.collect()
    gc.freeze()


DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Measured figures, never asserted in tests. Each section is rewritten by its benchmark
(`make bench`, or `python -m bench NAME`); the machine and the date are recorded with it.
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        kb = int(total.split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=DOC.parent.parent).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} CPU(s){memory}; Python {platform.python_version()}; "
            f"{platform.system()} {platform.release()}; commit {commit or 'unknown'}")


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": statistics.median(ordered), "p95": at(0.95), "p99": at(0.99), "mean": statistics.fmean(ordered)}


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section `## name` in docs/benchmarks.md."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {name}\n\n_Run {stamp} on {machine()}._\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
