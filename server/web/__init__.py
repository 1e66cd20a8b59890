"""HTTP and the WebSocket upgrade, through Starlette: the participant API, the console, review."""
