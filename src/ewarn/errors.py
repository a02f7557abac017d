"""Errors grouped by what the caller should do next: retry, dead-letter, or stop."""

from __future__ import annotations


class EwarnError(Exception):
    """Base of every error ewarn raises on purpose."""


class TransientError(EwarnError):
    """A dependency is down or slow; the same work should be retried later, never skipped."""


class PoisonRecordError(EwarnError):
    """A record can never be processed; it goes to the dead-letter topic and the stage moves on."""


class ConfigurationError(EwarnError):
    """Settings or environment are wrong; the process should stop with this message."""


class RecordRejected(EwarnError):
    """One input record is malformed; it is recorded as rejected and the rest of its payload flows.

    The message always names the source (feed) and the record, so an operator can find it.
    """

    def __init__(self, *, source: str, record: str, reason: str) -> None:
        self.source = source
        self.record = record
        self.reason = reason
        super().__init__(f"{source}: record {record} rejected: {reason}")
