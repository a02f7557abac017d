"""Which subscription settings an integration format can work with, and why not: the API's 422 reasons."""

from __future__ import annotations

from ewarn.models.common import TLP
from ewarn.models.subscription import CHANNEL_FORMATS, Channel, Digest, PayloadFormat

# Formats read in a chat channel: everyone in the channel reads them, so never TLP:RED (named recipients).
CHAT_FORMATS = frozenset({PayloadFormat.TEAMS, PayloadFormat.SLACK})
# Formats that authenticate with an API key stored as the subscription's secret, instead of signing.
API_KEY_FORMATS = frozenset({PayloadFormat.THEHIVE})
# Formats that make one record per alert in the receiving tool: no digest message.
NO_DIGEST_FORMATS = frozenset({PayloadFormat.THEHIVE})


def default_format(channel: Channel) -> PayloadFormat:
    return CHANNEL_FORMATS[channel][0]


def format_refusal(
    *,
    channel: Channel,
    payload_format: PayloadFormat,
    digest: Digest,
    tlp_ceiling: TLP,
    has_api_key: bool,
) -> str | None:
    """Why this combination cannot be delivered (None when it can)."""
    allowed = CHANNEL_FORMATS[channel]
    if payload_format not in allowed:
        names = ", ".join(f.value for f in allowed)
        return (
            f"the {payload_format.value} format cannot be sent by the {channel.value} channel "
            f"(it carries {names})"
        )
    if payload_format in API_KEY_FORMATS and not has_api_key:
        return f"the {payload_format.value} format needs api_key: the key it authenticates with"
    if payload_format not in API_KEY_FORMATS and has_api_key:
        return "api_key is only for formats that authenticate with one (thehive)"
    if payload_format in NO_DIGEST_FORMATS and digest is not Digest.NONE:
        return f"the {payload_format.value} format creates one record per alert: digest must be none"
    if payload_format in CHAT_FORMATS and tlp_ceiling.rank > TLP.AMBER_STRICT.rank:
        return "a chat channel is read by everyone in it: its TLP ceiling can be at most amber+strict"
    return None
