"""docs/notifications.md documents every notifiable event and every placeholder the catalog offers."""

import re
from pathlib import Path

from arrears.notifications.catalog import NOTIFIABLE_EVENTS, PLACEHOLDERS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()


def _placeholder_paths(tree: dict, prefix: str = "") -> set[str]:
    paths = set()
    for name, node in tree.items():
        path = f"{prefix}{name}"
        paths |= _placeholder_paths(node, f"{path}.") if isinstance(node, dict) else {path}
    return paths


def test_every_event_has_a_row_in_the_events_table():
    events_section = DOC.split("## Events")[1].split("## Placeholders")[0]
    rows = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", events_section, re.M))
    assert rows == set(NOTIFIABLE_EVENTS)


def test_every_placeholder_is_documented_and_nothing_else():
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)*)`", DOC.split("## Placeholders")[1].split("## Handlers")[0]))
    offered = set().union(*(_placeholder_paths(tree) for tree in PLACEHOLDERS.values()))
    assert offered <= documented, f"undocumented: {sorted(offered - documented)}"
    names = {
        path
        for path in documented
        if path.split(".")[0] in {"event", "account", "reseller", "invoice", "payment"}
        or path.startswith("billing_day")
    }
    assert names <= offered, f"documented but not offered: {sorted(names - offered)}"
