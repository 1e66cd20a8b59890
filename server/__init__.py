"""Peerline: anonymous, real-time peer-support chat."""

__version__ = "0.1.0"
