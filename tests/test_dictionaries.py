"""The venue's published data dictionaries: what they add to QuickFIX's and how a client
gets them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from click.testing import CliRunner

from venue.cli import main
from venue.fix.application import dictionary_dir

ROOT = Path(__file__).resolve().parents[1]
STOCK = Path(sys.prefix) / "share" / "quickfix"  # QuickFIX's own dictionaries (the wheel)


def _messages_with(xml: str, field: str) -> list[str]:
    found = []
    for name, body in re.findall(r"<message name='(\w+)'.*?>(.*?)</message>", xml, re.S):
        if f"<field name='{field}'" in body:
            found.append(name)
    return found


def test_venue_dictionaries_add_self_trade_prevention_to_new_order_single_only() -> None:
    for version in ("FIX42", "FIX44"):
        xml = (dictionary_dir() / f"{version}.xml").read_text()
        assert "<field number='7928' name='SelfTradePrevention' type='CHAR' />" in xml
        assert _messages_with(xml, "SelfTradePrevention") == ["NewOrderSingle"]


def test_every_custom_tag_of_the_dictionaries_is_listed_in_the_spec() -> None:
    """Custom: a field the venue's file defines and QuickFIX's stock file does not."""
    spec = "".join(p.read_text() for p in (ROOT / "spec").glob("*.md"))
    for path in dictionary_dir().glob("*.xml"):
        stock = STOCK / path.name
        if not stock.is_file():
            continue
        known = set(re.findall(r"<field number='(\d+)'", stock.read_text()))
        for number in set(re.findall(r"<field number='(\d+)'", path.read_text())) - known:
            assert f"| {number} |" in spec, (path.name, number)


def test_venue_dictionaries_command_copies_them_out(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dictionaries", "--out", str(tmp_path / "dd")])
    assert result.exit_code == 0, result.output
    copied = sorted(p.name for p in (tmp_path / "dd").iterdir())
    assert {"FIX42.xml", "FIX44.xml"} <= set(copied)
    for name in copied:
        assert (tmp_path / "dd" / name).read_bytes() == (dictionary_dir() / name).read_bytes()


def test_dictionaries_ship_in_the_package() -> None:
    assert '"fix/dictionaries/*.xml"' in (ROOT / "pyproject.toml").read_text()
