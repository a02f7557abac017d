"""Retention of finished rows: configurable ages per table, pruned in bounded batches (``prune``, ``worker``)."""
