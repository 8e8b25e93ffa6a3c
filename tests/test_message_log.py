"""The FIX message log's redaction (the log itself is exercised by every venue test; the
password test in test_venue_risk.py reads it back)."""

from __future__ import annotations

import pytest

from venue.fix.message_log import redact

LOGON = "8=FIX.4.4\x019=60\x0135=A\x0149=C\x0156=VENUE\x01553=trader\x01554={pw}\x0110=000\x01"


@pytest.mark.parametrize("password", ["s3cret", "a=b", "", "x" * 200])
def test_password_is_blanked_and_the_rest_kept(password: str) -> None:
    assert redact(LOGON.format(pw=password)) == LOGON.format(pw="***")


def test_new_password_is_blanked_too() -> None:
    text = "35=A\x01554=old\x01925=new\x0110=000\x01"
    assert redact(text) == "35=A\x01554=***\x01925=***\x0110=000\x01"


def test_tags_that_only_end_in_554_are_kept() -> None:
    text = "35=D\x0111=a\x0115540=7\x01925000=9\x0110=000\x01"
    assert redact(text) == text
