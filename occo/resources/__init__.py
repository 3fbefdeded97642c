"""Resource handlers: the plugins that create and drop resources on a cloud."""
