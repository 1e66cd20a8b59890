"""Live sockets of this process: each one's outbox, and the hub that finds
them by room and person."""
