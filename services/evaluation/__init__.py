"""Benchmarks and quality evaluation of the gateway (bench + eval commands)."""
