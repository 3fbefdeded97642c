"""Persistence: SQLAlchemy 2 tables and queries, Alembic migrations."""
