"""Write the venue's market-data dictionaries for FIX 4.2 and 4.4 (venue/fix/dictionaries/
FIX42MD.xml, FIX44MD.xml): QuickFIX's stock FIX42.xml/FIX44.xml plus one field,
MDSeqNum(20083), the per-symbol market-data sequence, on MarketDataSnapshotFullRefresh (W:
the sequence the snapshot reflects) and on every entry of MarketDataIncrementalRefresh
(X). FIX 4.x has no RptSeq there (spec/market-data.md). Run: python scripts/md_dictionaries.py
"""

from __future__ import annotations

import re

from venue.fix.application import VENUE_DICTIONARIES, dictionary_dir

TAG, NAME = 20083, "MDSeqNum"
FIELD = f'<field name="{NAME}" required="N"/>'


def patch(text: str) -> str:
    definition = f'  <field number="{TAG}" name="{NAME}" type="INT"/>\n </fields>'
    text = text.replace("</fields>", definition, 1)
    # The X entries (4.2: inline in the message; 4.4: the MDIncGrp component), after
    # MDEntryPositionNo.
    marker = re.search(r"<component name=.MDIncGrp.>", text) or re.search(
        r"<message name=.MarketDataIncrementalRefresh.", text
    )
    assert marker is not None
    head, tail = text[: marker.start()], text[marker.start() :]
    tail, count = re.subn(
        r"(<field name=[\"']MDEntryPositionNo[\"'] required=[\"']N[\"']\s*/>)",
        rf"\1{FIELD}",
        tail,
        count=1,
    )
    assert count == 1, count
    text = head + tail
    # The W body: the sequence the snapshot reflects (an empty book has no entries).
    text, count = re.subn(
        r"(<message name=[\"']MarketDataSnapshotFullRefresh[\"'][^>]*>\s*"
        r"<field name=[\"']MDReqID[\"'] required=[\"']N[\"']\s*/>)",
        rf"\1{FIELD}",
        text,
    )
    assert count == 1, count
    return text


def main() -> None:
    for version in ("42", "44"):
        source = (dictionary_dir() / f"FIX{version}.xml").read_text()
        (VENUE_DICTIONARIES / f"FIX{version}MD.xml").write_text(patch(source))
        print(f"wrote {VENUE_DICTIONARIES / f'FIX{version}MD.xml'}")


if __name__ == "__main__":
    main()
