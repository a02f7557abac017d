"""Ingest stage: feed sources → normalised indicators → the indicators table and topic."""
