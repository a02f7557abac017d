"""Key primitives: generated keys are strong, configured keys are judged by length, entropy and repetition."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ewarn.apikeys import (
    KEY_PREFIX,
    estimated_bits,
    generate_strong_key,
    hash_api_key,
    key_strength_problem,
    new_api_key,
)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        pytest.param("change-me", "characters", id="placeholder"),
        pytest.param("ewk_supersecret", "characters", id="short"),
        pytest.param("a" * 64, "entropy", id="one-character"),
        pytest.param("abab" * 16, "entropy", id="two-characters"),
        pytest.param("password1234" * 4, "repeats", id="repeated-word"),
        pytest.param(" ewk_Vq3xR8mZ2pL7nK4wT9sJ6hF1cY5gD0aB", "whitespace", id="leading-space"),
        pytest.param("ewk_Vq3xR8mZ2pL7nK4wT9sJ6hF1cY5gD0aB\n", "whitespace", id="newline"),
        pytest.param("ewk_bootstrap_Vq3xR8mZ2pL7nK4wT9sJ6hF1cY5gD0aB", None, id="random-urlsafe"),
        pytest.param(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", None, id="sha256-hex"
        ),
    ],
)
def test_configured_key_strength(key: str, problem: str | None) -> None:
    found = key_strength_problem(key)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert key.strip() not in found  # the message never quotes the key


def test_generated_keys_are_strong_distinct_and_hashed_stably() -> None:
    keys = [generate_strong_key() for _ in range(50)] + [new_api_key()[1] for _ in range(50)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert key.startswith(KEY_PREFIX) and key_strength_problem(key) is None
    key_id, full = new_api_key()
    assert full.startswith(f"{KEY_PREFIX}{key_id}_")
    assert hash_api_key(full) == hash_api_key(full) != hash_api_key(full + "x")
    assert len(hash_api_key(full)) == 64


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        pytest.param("", 0.0, id="empty"),
        pytest.param("aaaa", 0.0, id="constant"),
        pytest.param("ab", 2.0, id="two"),
    ],
)
def test_entropy_estimate(text: str, bits: float) -> None:
    assert estimated_bits(text) == pytest.approx(bits)


def test_store_does_not_import_the_api() -> None:
    """Layering: key hashing lives below the store (issue 13); no module of the store imports ``ewarn.api``."""
    import ewarn.store as store

    for path in Path(store.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        offending = [m for m in imported if m == "ewarn.api" or m.startswith("ewarn.api.")]
        assert offending == [], f"{path} imports {offending}"
