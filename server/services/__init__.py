"""What the product does: a rule from core, a change in the store, frames to sockets.

No Starlette here."""
