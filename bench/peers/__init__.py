"""Minimal servers for Peerline's job on the stacks a Python team would otherwise choose."""
