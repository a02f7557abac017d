"""Storage: SQLAlchemy 2.0 async over SQLite (embedded default) or PostgreSQL."""
