"""Resource storage: SQLAlchemy tables, Alembic migrations, search."""
