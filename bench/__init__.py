"""Benchmarks (run as modules, e.g. ``python -m bench.hl7v2_parse``)."""
