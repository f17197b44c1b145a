"""Backends that ship with core (the CPU). Chip backends are separate plugins."""
