"""The bootstrap operator key (``EWARN_BOOTSTRAP_OPERATOR_KEY``): checked for strength, stored only when needed.

At start-up the configured key is stored only while no active operator key exists, so an operator who created
their own keys and revoked the bootstrap one is not given it back by the next restart. Replacing it is explicit:
``ewarn keys rotate-bootstrap``. A weak key stops start-up with a ``ConfigurationError`` naming the problem
(never the key).
"""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError

from ewarn.apikeys import key_strength_problem
from ewarn.errors import ConfigurationError
from ewarn.logging import get_logger
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.principals import ensure_bootstrap_operator

log = get_logger(__name__)


def checked_bootstrap_key(key: SecretStr) -> str:
    """The key's value, or ConfigurationError when it is too weak to guard the operator role."""
    value = key.get_secret_value()
    problem = key_strength_problem(value)
    if problem is not None:
        raise ConfigurationError(
            f"EWARN_BOOTSTRAP_OPERATOR_KEY is too weak: {problem}. Generate one with "
            "`python -c 'import secrets; print(\"ewk_\" + secrets.token_urlsafe(32))'`."
        )
    return value


async def install_bootstrap_key(sessions: SessionFactory, key: SecretStr | None) -> str | None:
    """Store the configured key when no operator exists; returns what happened (None: no key configured)."""
    if key is None:
        return None
    value = checked_bootstrap_key(key)
    async with sessions() as session:
        try:
            outcome = await ensure_bootstrap_operator(session=session, key=value)
            await session.commit()
        except IntegrityError:
            # Replicas started together with the same key race here; the unique key hash lets one win.
            await session.rollback()
            outcome = "present"
    if outcome == "skipped":
        log.info(
            "bootstrap_key_not_added", reason="an operator key exists; use `ewarn keys rotate-bootstrap`"
        )
    else:
        log.info("bootstrap_key", outcome=outcome)
    return outcome
