"""Benchmarks: `make bench` (python -m bench) runs them and records the figures in docs/benchmarks.md."""
