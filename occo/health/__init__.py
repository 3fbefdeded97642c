"""Health checks: plugins named after the keys of a node's ``health_check``."""
