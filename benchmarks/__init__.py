"""Benchmarks: measured wall time and peak memory of the heavy steps (``make bench``)."""
