"""Types shared by several models."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer


def utcnow() -> datetime:
    """Timezone-aware now, the only clock ewarn uses."""
    return datetime.now(UTC)


UtcDatetime = Annotated[
    AwareDatetime,
    PlainSerializer(lambda v: v.astimezone(UTC).isoformat().replace("+00:00", "Z"), return_type=str),
]


class TLP(StrEnum):
    """Traffic Light Protocol 2.0 (TLP 1.0 WHITE maps to CLEAR)."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        return _TLP_RANK[self]


_TLP_RANK = {TLP.CLEAR: 0, TLP.GREEN: 1, TLP.AMBER: 2, TLP.AMBER_STRICT: 3, TLP.RED: 4}


class Contract(BaseModel):
    """Base of every message model: strict about unknown fields so drift is caught early."""

    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)
