"""Session fixtures that start real services (Kafka, PostgreSQL) once per test run."""
