"""Peerline's load benchmark: a multi-process load generator and a runner around it.

Run `python -m bench.run --help` from the project root; bench/README.md explains the numbers.
"""
