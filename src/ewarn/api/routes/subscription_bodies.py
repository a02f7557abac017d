"""What the subscription routes accept and answer: bodies in, subscriptions out (never a secret, except once)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ewarn.models.common import ONE_LINE, text_limits, utcnow
from ewarn.models.subscription import Channel, Digest, PayloadFormat, Subscription, SubscriptionFilters


class SubscriptionOut(BaseModel):
    """A subscription as the API shows it: never its secrets."""

    id: str
    provider_id: str
    channel: Channel
    target: str
    filters: SubscriptionFilters
    payload_format: PayloadFormat
    digest: Digest
    enabled: bool
    disabled_reason: str | None = None
    created_at: datetime | None = None
    rotation_ends_at: datetime | None = Field(
        default=None, description="Until then deliveries are also signed with the previous secret"
    )

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        ends = sub.previous_secret_expires_at
        return cls(
            id=sub.id,
            provider_id=sub.provider_id,
            channel=sub.channel,
            target=sub.target,
            filters=sub.filters,
            payload_format=sub.payload_format,
            digest=sub.digest,
            enabled=sub.enabled,
            disabled_reason=sub.disabled_reason,
            created_at=sub.created_at,
            rotation_ends_at=ends if ends is not None and ends > utcnow() else None,
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        description="The whsec_ signing secret (webhooks); shown only in this response"
    )


Target = Annotated[str, text_limits(2000, min_length=3), ONE_LINE]
_API_KEY_CHARS = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces: it goes into a request header


def _api_key_shape(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not _API_KEY_CHARS.match(value.get_secret_value()):
        raise ValueError("api_key must be printable ASCII without spaces")
    return value


ApiKey = Annotated[
    SecretStr,
    Field(
        min_length=8,
        max_length=100,  # sealed, it must fit the 256-character secret column
        description="The key an integration authenticates with (TheHive); stored sealed, never shown",
    ),
]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    target: Target
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    payload_format: PayloadFormat | None = Field(
        default=None, description="Default: json for webhook and email, cef for syslog"
    )
    digest: Digest = Digest.NONE
    api_key: ApiKey | None = None

    _check_api_key = field_validator("api_key")(_api_key_shape)


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target | None = None
    filters: SubscriptionFilters | None = None
    payload_format: PayloadFormat | None = None
    digest: Digest | None = None
    api_key: ApiKey | None = None

    _check_api_key = field_validator("api_key")(_api_key_shape)


class RotatedOut(BaseModel):
    secret: str = Field(description="The new whsec_ secret; shown only in this response")
    rotation_ends_at: datetime | None


class DisableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, text_limits(500), ONE_LINE] = "disabled by its owner"
