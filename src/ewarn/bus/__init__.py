"""The message bus interface; stages use only this, never a transport library."""

from ewarn.bus.base import Bus, Consumer, Record
from ewarn.bus.topics import Topics

__all__ = ["Bus", "Consumer", "Record", "Topics"]
