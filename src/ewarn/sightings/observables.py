"""A submitted observable, read and normalised as every feed's are (``ewarn.ingest.normalise``)."""

from __future__ import annotations

import ipaddress

from ewarn.ingest import normalise
from ewarn.ingest.normalise import Observable
from ewarn.models.sighting import ObservableType


class InvalidSighting(ValueError):
    """A submission that cannot be stored; the message is the reason returned to the caller (422)."""


def read_observable(type_: ObservableType, value: str) -> Observable:
    """The normalised observable ``value`` of the declared ``type_``, or ``InvalidSighting`` saying why."""
    try:
        if type_ is ObservableType.IP:
            if "/" in value:
                raise InvalidSighting("type ip takes one address; use type cidr for a network")
            return normalise.ip(value)
        if type_ is ObservableType.CIDR:
            if "/" not in value:
                raise InvalidSighting("type cidr takes a network such as 192.0.2.0/24")
            ipaddress.ip_network(value.strip(), strict=True)  # host bits set: the sender meant something else
            return normalise.ip(value)
        if type_ is ObservableType.DOMAIN:
            return normalise.domain_observable(value)
        observed = normalise.url(value)
        if observed.value.split("://", 1)[0] not in ("http", "https"):
            raise InvalidSighting("type url takes http or https URLs")
        return observed
    except InvalidSighting:
        raise
    except ValueError as exc:
        raise InvalidSighting(f"observable is not a valid {type_.value}: {exc}") from exc
