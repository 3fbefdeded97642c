"""The schema revision this occo expects (the head of occo/store/migrations).

Kept apart from the migration code so that checking it needs neither
SQLAlchemy nor Alembic; a new migration moves it.
"""

HEAD_REVISION = "0008"
