"""What the customer's tables share: on a phone each row stacks into a block, every cell labelled with its column
(``data-label``, shown by the ``stacked`` style), so no list scrolls sideways."""

TABLE_ATTRS = {"class": "data stacked"}


def cell(label: str, *, num: bool = False, nowrap: bool = False) -> dict:
    """django-tables2 ``attrs`` of a column: its label on every cell, right-aligned figures when ``num``."""
    classes = " ".join(name for name, wanted in (("num", num), ("nowrap", nowrap)) if wanted)
    td = {"data-label": label, **({"class": classes} if classes else {})}
    return {"td": td, "th": {"class": "num"} if num else {}}
