"""Descriptions (infra, node definitions) and the state machines."""
