"""Configuration management: what runs on a node once its resource is up.

``jobs`` (occo's orchestration jobs, directord-style verbs) run directly on
local nodes and become cloud-init for cloud nodes; ``chef`` and
``puppet_solo`` are always rendered into cloud-init.
"""
