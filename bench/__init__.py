"""Benchmarks: one command each, printing figures and ratios (see bench/README.md)."""
