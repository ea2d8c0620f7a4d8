"""Benchmarks with their baselines; each runs as `python -m bench.NAME`."""
