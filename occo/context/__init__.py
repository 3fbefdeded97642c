"""Contextualisation and templating of node definitions."""
