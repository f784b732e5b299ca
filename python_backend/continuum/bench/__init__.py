"""Benchmarks run by ``continuum bench NAME``; each returns one JSON-ready dict of figures."""
