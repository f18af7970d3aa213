"""Rule exceptions and shared value lists: decide whether an anomaly is excepted from alerting.

An exception item is a list of entries that must all hold; an anomaly matching any item of the
rule's lists raises no alert. Entries test the anomaly's fields: record fields (``record_score``,
``by_field_value``, ``partition_field_value``, ``job_id`` …), the by/over/partition field under its
ECS name (``event.action``) and each influencer under its ECS name with all its values
(``aws.cloudtrail.user_identity.arn``). Entry types follow Kibana: ``match`` (is), ``match_any``
(is one of), ``exists``, ``wildcard`` (matches, ``*`` and ``?``), ``list`` (is in value list);
``operator = "excluded"`` negates an entry (is not, is not one of, does not exist, …).

Implementation decisions: on a field with several values (influencers) a positive entry holds only
when *every* value satisfies it, and a negated entry when *no* value does. Elasticsearch's
``must_not`` query (what Kibana builds) excepts an anomaly as soon as *any* value matches, so an
allow-listed automation role among the contributors hides an anomaly that another principal
caused; here it does not. Items live in the rule file (``[[rule.exceptions]]``) or in the store
(``exception_items``: list id = the rule id for its own list, or a shared list named in
``exceptions_list``); value lists live in ``value_lists``/``value_list_items``. Everything is
read with bound parameters.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from trailspike.core.errors import ConfigError
from trailspike.core.timeutil import utcnow
from trailspike.rules.schema import ExceptionEntry, ExceptionItem, MachineLearningRuleData

AnomalyFields = Mapping[str, Sequence[Any]]


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Compile an Elasticsearch-style wildcard (``*`` any run, ``?`` one character).

    >>> bool(wildcard_regex("arn:aws:iam::*:role/ci-*").fullmatch("arn:aws:iam::1:role/ci-x"))
    True
    """
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class ValueLists:
    """Value lists read from the store once per evaluation pass."""

    con: duckdb.DuckDBPyConnection | None = None
    cache: dict[str, frozenset[str]] = field(default_factory=dict)

    def values(self, list_id: str) -> frozenset[str]:
        if list_id not in self.cache:
            if self.con is None:
                raise ConfigError(f"value list {list_id!r} needs a store")
            known = self.con.execute(
                "SELECT count(*) FROM value_lists WHERE list_id = ?", [list_id]
            ).fetchone()
            if not known or known[0] == 0:
                raise ConfigError(f"exception refers to unknown value list {list_id!r}")
            rows = self.con.execute(
                "SELECT value FROM value_list_items WHERE list_id = ?", [list_id]
            ).fetchall()
            self.cache[list_id] = frozenset(str(r[0]) for r in rows)
        return self.cache[list_id]


def _satisfies(entry: ExceptionEntry, value: str, lists: ValueLists) -> bool:
    """Whether one value meets a value entry's condition (before negation)."""
    if entry.type == "match":
        return value == entry.value
    if entry.type == "match_any":
        return value in (entry.value or [])
    if entry.type == "wildcard":
        return wildcard_regex(str(entry.value)).fullmatch(value) is not None
    assert entry.value_list is not None
    return value in lists.values(entry.value_list.id)


def entry_matches(entry: ExceptionEntry, fields: AnomalyFields, lists: ValueLists) -> bool:
    """Whether one entry holds for the anomaly's ``fields`` (field name → list of values).

    A positive entry needs *every* value to satisfy it; a negated one needs *no* value to.

    >>> arns = {"arn": ["arn:aws:iam::1:role/ci", "arn:aws:iam::1:user/mallory"]}
    >>> entry_matches(ExceptionEntry(field="arn", type="wildcard", value="*:role/ci"), arns,
    ...     ValueLists())
    False
    """
    values = [_text(v) for v in fields.get(entry.field, ()) if v is not None and v != ""]
    if entry.type == "exists":
        return bool(values) == (entry.operator == "included")
    if entry.operator == "included":
        return bool(values) and all(_satisfies(entry, v, lists) for v in values)
    return not any(_satisfies(entry, v, lists) for v in values)


def item_matches(item: ExceptionItem, fields: AnomalyFields, lists: ValueLists) -> bool:
    """Whether every entry of ``item`` holds."""
    return all(entry_matches(e, fields, lists) for e in item.entries)


def first_matching_item(
    items: Iterable[ExceptionItem], fields: AnomalyFields, lists: ValueLists
) -> ExceptionItem | None:
    """The first item that excepts the anomaly, or ``None`` when it should alert."""
    for item in items:
        if item_matches(item, fields, lists):
            return item
    return None


# --- stored exception items -----------------------------------------------------------------


def add_exception_item(con: duckdb.DuckDBPyConnection, list_id: str, item: ExceptionItem) -> str:
    """Store ``item`` in list ``list_id`` (a rule id, or a shared list); return its id."""
    item_id = str(uuid.uuid4())
    entries = [e.model_dump(by_alias=True, exclude_none=True) for e in item.entries]
    con.execute(
        "INSERT INTO exception_items VALUES (?, ?, ?, ?, ?, ?)",
        [item_id, list_id, item.name, json.dumps(entries), item.comment, utcnow()],
    )
    return item_id


def delete_exception_item(con: duckdb.DuckDBPyConnection, item_id: str) -> bool:
    """Remove a stored item; ``False`` when there was none with that id."""
    found = con.execute(
        "SELECT count(*) FROM exception_items WHERE item_id = ?", [item_id]
    ).fetchone()
    con.execute("DELETE FROM exception_items WHERE item_id = ?", [item_id])
    return bool(found and found[0])


def stored_items(
    con: duckdb.DuckDBPyConnection, list_ids: Sequence[str] | None = None
) -> list[tuple[str, str, ExceptionItem]]:
    """``(item_id, list_id, item)`` for stored items, optionally only in ``list_ids``."""
    rows = con.execute(
        "SELECT item_id, list_id, name, entries, comment FROM exception_items ORDER BY created_at"
    ).fetchall()
    out = []
    for item_id, list_id, name, entries, comment in rows:
        if list_ids is not None and list_id not in list_ids:
            continue
        item = ExceptionItem.model_validate(
            {"name": name, "entries": json.loads(entries), "comment": comment}
        )
        out.append((str(item_id), str(list_id), item))
    return out


def rule_exception_items(
    con: duckdb.DuckDBPyConnection, rule: MachineLearningRuleData
) -> list[ExceptionItem]:
    """Every item that applies to ``rule``: its inline items, its own list, its shared lists."""
    list_ids = [rule.rule_id, *(ref.list_id for ref in rule.exceptions_list)]
    return [*rule.exceptions, *(item for _, _, item in stored_items(con, list_ids))]


# --- value lists ----------------------------------------------------------------------------


def create_value_list(con: duckdb.DuckDBPyConnection, list_id: str, description: str = "") -> None:
    """Create an empty value list (no-op when it exists)."""
    con.execute(
        "INSERT INTO value_lists VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [list_id, description, utcnow()],
    )


def add_list_values(con: duckdb.DuckDBPyConnection, list_id: str, values: Iterable[str]) -> int:
    """Add values to a list (created if needed); return how many were new."""
    create_value_list(con, list_id)
    clean = sorted({v.strip() for v in values if v.strip()})
    before = len(list_values(con, list_id))
    if clean:
        con.executemany(
            "INSERT INTO value_list_items VALUES (?, ?) ON CONFLICT DO NOTHING",
            [[list_id, v] for v in clean],
        )
    return len(list_values(con, list_id)) - before


def remove_list_values(con: duckdb.DuckDBPyConnection, list_id: str, values: Iterable[str]) -> None:
    for value in values:
        con.execute(
            "DELETE FROM value_list_items WHERE list_id = ? AND value = ?", [list_id, value]
        )


def list_values(con: duckdb.DuckDBPyConnection, list_id: str) -> list[str]:
    rows = con.execute(
        "SELECT value FROM value_list_items WHERE list_id = ? ORDER BY value", [list_id]
    ).fetchall()
    return [str(r[0]) for r in rows]


def value_list_ids(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """``(list_id, description, size)`` of every value list."""
    rows = con.execute(
        "SELECT l.list_id, coalesce(l.description, ''), count(i.value) FROM value_lists l "
        "LEFT JOIN value_list_items i USING (list_id) GROUP BY 1, 2 ORDER BY 1"
    ).fetchall()
    return [(str(a), str(b), int(c)) for a, b, c in rows]


# --- the CLI's one-line entry syntax --------------------------------------------------------

_ENTRY = re.compile(
    r"^\s*(?P<field>[A-Za-z0-9_.@-]+)\s+"
    r"(?P<op>is\s+not\s+one\s+of|is\s+one\s+of|is\s+not|is|does\s+not\s+exist|exists"
    r"|does\s+not\s+match|matches|not\s+in\s+list|in\s+list)(?:\s+(?P<value>.*?))?\s*$",
    re.IGNORECASE,
)


def parse_entry(text: str) -> ExceptionEntry:
    """Parse ``FIELD is [not] VALUE``, ``is [not] one of A,B``, ``exists``/``does not exist``,
    ``matches``/``does not match PATTERN`` or ``[not] in list LIST_ID`` into an entry.

    >>> e = parse_entry("source.ip is not one of 10.0.0.1, 10.0.0.2")
    >>> e.type, e.operator, e.value
    ('match_any', 'excluded', ['10.0.0.1', '10.0.0.2'])
    >>> parse_entry("aws.cloudtrail.user_identity.arn in list automation").value_list.id
    'automation'
    """
    match = _ENTRY.match(text)
    if not match:
        raise ConfigError(
            f"cannot read exception entry {text!r}: write FIELD is [not] VALUE, "
            "is [not] one of A,B, exists, does not exist, matches PATTERN, does not match "
            "PATTERN, in list LIST_ID or not in list LIST_ID"
        )
    words = match["op"].lower().split()
    negated = "not" in words
    op = " ".join(w for w in words if w not in ("not", "does"))
    op = {"exist": "exists", "match": "matches"}.get(op, op)
    value = match["value"] or ""
    data: dict[str, Any] = {
        "field": match["field"],
        "operator": "excluded" if negated else "included",
    }
    if op == "exists":
        if value:
            raise ConfigError(f"exception entry {text!r}: exists takes no value")
        data["type"] = "exists"
    elif op == "is one of":
        data["type"], data["value"] = (
            "match_any",
            [v.strip() for v in value.split(",") if v.strip()],
        )
    elif op == "in list":
        data["type"], data["list"] = "list", {"id": value}
    else:
        data["type"], data["value"] = ("match" if op == "is" else "wildcard"), value
    if data["type"] != "exists" and not value:
        raise ConfigError(f"exception entry {text!r} has no value")
    try:
        return ExceptionEntry.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"exception entry {text!r}: {exc}") from exc


def describe_entry(entry: ExceptionEntry) -> str:
    """An entry in the same one-line syntax :func:`parse_entry` reads.

    >>> describe_entry(parse_entry("event.action matches Get*"))
    'event.action matches Get*'
    """
    neg = entry.operator == "excluded"
    if entry.type == "exists":
        return f"{entry.field} {'does not exist' if neg else 'exists'}"
    if entry.type == "match_any":
        return f"{entry.field} is {'not ' if neg else ''}one of {', '.join(entry.value or [])}"
    if entry.type == "list":
        assert entry.value_list is not None
        return f"{entry.field} {'not ' if neg else ''}in list {entry.value_list.id}"
    if entry.type == "match":
        return f"{entry.field} is {'not ' if neg else ''}{entry.value}"
    return f"{entry.field} {'does not match' if neg else 'matches'} {entry.value}"
