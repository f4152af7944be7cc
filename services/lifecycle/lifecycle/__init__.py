"""Lifecycle service: owns each item's state (the five states and ten works of the standard), rebuilt from the
item's event log."""
