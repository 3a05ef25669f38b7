"""Sealing secrets: what is sealed opens under any configured key and only under those,
and a secret stored before sealing is never mistaken for a sealed one."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from bot.sealing import Sealer, SecretKeyError, UnreadableSecret, is_sealed

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SLACK_LIKE = st.from_regex(
    r"xox[abpe]-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24,40}", fullmatch=True
)


@given(st.text(max_size=300))
def test_anything_sealed_opens_as_it_was(secret: str) -> None:
    sealer = Sealer.from_keys(KEY_A)
    sealed = sealer.seal(secret)
    assert is_sealed(sealed)
    assert sealer.open(sealed) == secret


@given(SLACK_LIKE)
def test_a_token_stored_in_the_clear_is_not_taken_for_a_sealed_one(token: str) -> None:
    assert not is_sealed(token)
    assert Sealer.from_keys(KEY_A).open(token) == token


def test_the_first_key_seals_and_every_key_opens() -> None:
    old = Sealer.from_keys(KEY_A).seal("xoxb-1-2-secret")
    both = Sealer.from_keys(f"{KEY_B}, {KEY_A}")
    assert both.open(old) == "xoxb-1-2-secret"
    moved = both.reseal(old)
    assert Sealer.from_keys(KEY_B).open(moved) == "xoxb-1-2-secret"
    with pytest.raises(UnreadableSecret):
        Sealer.from_keys(KEY_A).open(moved)
    with pytest.raises(UnreadableSecret):
        Sealer.from_keys(KEY_B).reseal(old)


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ("", "Set INHOUSE_SECRET_KEY"),
        (" , ", "Set INHOUSE_SECRET_KEY"),
        ("hunter2", "key 1 of 1 is not a Fernet key"),
        (f"{KEY_A},", "key 2 of 2 is not a Fernet key"),
        (f"{KEY_A},{KEY_B[:-2]}", "key 2 of 2 is not a Fernet key"),
        ("ключ", "key 1 of 1 is not a Fernet key"),
    ],
)
def test_a_bad_key_is_named_by_position_never_shown(keys: str, said: str) -> None:
    with pytest.raises(SecretKeyError) as raised:
        Sealer.from_keys(keys)
    message = str(raised.value)
    assert said in message and "inhouse secrets new-key" in message
    for part in keys.split(","):
        if part.strip():
            assert part.strip() not in message
