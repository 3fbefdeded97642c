"""The engine: planner (pure), executors (handlers + store), maintainer."""
