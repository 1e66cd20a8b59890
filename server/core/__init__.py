"""Pure rules and formats: no I/O, no clock of their own (time comes in as an argument)."""
