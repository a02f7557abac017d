"""Tooling that runs real services (Kafka, PostgreSQL) on loopback for tests and local runs."""
