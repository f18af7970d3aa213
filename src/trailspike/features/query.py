"""Datafeed queries: the Elasticsearch bool-query subset of job datafeeds, parsed and compiled.

A datafeed query such as ``{"bool": {"filter": [{"term": {"event.dataset": "aws.cloudtrail"}},
{"exists": {"field": "source.geo.city_name"}}]}}`` is parsed into a small tree of frozen clause
objects (:func:`parse_query`) and compiled to a DuckDB ``WHERE`` fragment with bound parameters
(:func:`compile_where`). Supported: ``bool`` (``filter``, ``must``, ``must_not``, ``should``
with ``minimum_should_match`` 1), ``term``, ``terms``, ``exists``, ``range``, ``match_all``.

Implementation decisions: values never enter SQL text; identifiers come only from the
``EVENT_COLUMNS`` whitelist, and any other ECS field is read with ``json_extract_string(doc, ?)``
whose path is a bound parameter. The ``events`` table holds normalised CloudTrail only, so
``event.dataset`` is always ``aws.cloudtrail`` and ``event.module`` always ``aws``
(:data:`TABLE_CONSTANTS`); clauses on those two fields are folded to TRUE/FALSE at compile time
instead of parsing the JSON document of every row, which would cost most of a job's run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trailspike.core.timeutil import parse_time
from trailspike.normalise.ecs_fields import (
    EVENT_COLUMNS,
    EVENT_DATASET,
    EVENT_MODULE,
    TIMESTAMP,
    json_path,
)

TABLE_CONSTANTS: dict[str, str] = {EVENT_DATASET: "aws.cloudtrail", EVENT_MODULE: "aws"}
"""Fields whose value is the same for every row of ``events`` (see the module docstring)."""

_FIELD = re.compile(r"^[@A-Za-z_][A-Za-z0-9_.@-]*$")
_RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
Scalar = str | int | float | bool


class QueryError(ValueError):
    """A datafeed query uses an unsupported clause or a malformed one; ``key`` says where."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class Term:
    field: str
    values: tuple[Scalar, ...]  # one value for term, several for terms


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Range:
    field: str
    bounds: tuple[tuple[str, Scalar], ...]  # (op, value) with op in gt/gte/lt/lte


@dataclass(frozen=True)
class Bool:
    must: tuple[Clause, ...] = ()
    must_not: tuple[Clause, ...] = ()
    should: tuple[Clause, ...] = ()


Clause = Term | Exists | Range | Bool


def check_field(field: Any, key: str) -> str:
    """Validate an ECS field name from a job or query (letters, digits, ``_ . @ -``).

    >>> check_field("source.geo.city_name", "k")
    'source.geo.city_name'
    """
    if not isinstance(field, str) or not _FIELD.match(field):
        raise QueryError(key, f"not a field name: {field!r}")
    return field


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _scalar(value: Any, key: str) -> Scalar:
    if isinstance(value, str | int | float | bool):
        return value
    raise QueryError(key, f"expected a string, number or boolean, got {type(value).__name__}")


def _single_entry(body: Any, key: str) -> tuple[str, Any]:
    if not isinstance(body, Mapping) or len(body) != 1:
        raise QueryError(key, "expected an object with exactly one field")
    ((field, value),) = body.items()
    return check_field(field, key), value


def _parse_term(body: Any, key: str) -> Term:
    field, value = _single_entry(body, key)
    if isinstance(value, Mapping):
        extra = set(value) - {"value", "boost", "case_insensitive"}
        if extra or "value" not in value:
            raise QueryError(f"{key}.{field}", "term takes {'value': ...}")
        value = value["value"]
    return Term(field, (_scalar(value, f"{key}.{field}"),))


def _parse_terms(body: Any, key: str) -> Term:
    if isinstance(body, Mapping):
        body = {k: v for k, v in body.items() if k != "boost"}
    field, values = _single_entry(body, key)
    if not isinstance(values, list) or not values:
        raise QueryError(f"{key}.{field}", "terms takes a non-empty list of values")
    return Term(field, tuple(_scalar(v, f"{key}.{field}") for v in values))


def _parse_exists(body: Any, key: str) -> Exists:
    if not isinstance(body, Mapping) or set(body) != {"field"}:
        raise QueryError(key, "exists takes {'field': NAME}")
    return Exists(check_field(body["field"], f"{key}.field"))


def _parse_range(body: Any, key: str) -> Range:
    field, spec = _single_entry(body, key)
    if not isinstance(spec, Mapping) or not spec:
        raise QueryError(f"{key}.{field}", "range takes {'gte': ..., 'lt': ...}")
    bounds = []
    for op, value in spec.items():
        if op == "format":
            continue
        if op not in _RANGE_OPS:
            raise QueryError(f"{key}.{field}.{op}", "unknown range operator")
        bounds.append((op, _scalar(value, f"{key}.{field}.{op}")))
    return Range(field, tuple(bounds))


def _parse_bool(body: Any, key: str) -> Bool:
    if not isinstance(body, Mapping):
        raise QueryError(key, "bool takes an object")
    parts: dict[str, list[Clause]] = {"must": [], "must_not": [], "should": []}
    for part, value in body.items():
        sub = f"{key}.{part}"
        if part in ("filter", "must"):
            parts["must"] += [parse_query(c, f"{sub}[{i}]") for i, c in enumerate(_as_list(value))]
        elif part in ("must_not", "should"):
            parts[part] += [parse_query(c, f"{sub}[{i}]") for i, c in enumerate(_as_list(value))]
        elif part == "minimum_should_match":
            if value not in (1, "1"):
                raise QueryError(sub, "only minimum_should_match 1 is supported")
        elif part != "boost":
            raise QueryError(sub, "unknown bool clause (use filter, must, must_not, should)")
    return Bool(tuple(parts["must"]), tuple(parts["must_not"]), tuple(parts["should"]))


_PARSERS: dict[str, Callable[[Any, str], Clause]] = {
    "term": _parse_term,
    "terms": _parse_terms,
    "exists": _parse_exists,
    "range": _parse_range,
    "bool": _parse_bool,
}


def parse_query(query: Any, key: str = "query") -> Clause:
    """Parse one query clause; unknown clause types raise :class:`QueryError` naming the key.

    >>> parse_query({"bool": {"filter": [{"exists": {"field": "user.name"}}]}})
    Bool(must=(Exists(field='user.name'),), must_not=(), should=())
    """
    if not isinstance(query, Mapping) or len(query) != 1:
        raise QueryError(key, "a query clause is an object with exactly one key")
    ((kind, body),) = query.items()
    if kind == "match_all":
        return Bool()
    parser = _PARSERS.get(kind)
    if parser is None:
        raise QueryError(
            f"{key}.{kind}", "unsupported query (use bool, term, terms, exists, range)"
        )
    return parser(body, f"{key}.{kind}")


def field_sql(field: str) -> tuple[str, list[Any]]:
    """SQL expression and parameters that read ECS ``field`` from a row of ``events``.

    >>> field_sql("source.ip")
    ('source_ip', [])
    >>> field_sql("aws.cloudtrail.flattened.x")
    ('json_extract_string(doc, ?)', ['$."aws"."cloudtrail"."flattened"."x"'])
    """
    column = EVENT_COLUMNS.get(field)
    if column is not None:
        return column, []
    if field in TABLE_CONSTANTS:
        return "CAST(? AS VARCHAR)", [TABLE_CONSTANTS[field]]
    return "json_extract_string(doc, ?)", [json_path(field)]


def _bound(field: str, value: Scalar) -> Any:
    if field == TIMESTAMP and isinstance(value, str):
        return parse_time(value)
    return value


def _compile_term(clause: Term) -> tuple[str, list[Any]]:
    if clause.field in TABLE_CONSTANTS:
        hit = TABLE_CONSTANTS[clause.field] in [str(v) for v in clause.values]
        return ("TRUE" if hit else "FALSE"), []
    expr, params = field_sql(clause.field)
    marks = ", ".join("?" for _ in clause.values)
    return f"CAST({expr} AS VARCHAR) IN ({marks})", params + [str(v) for v in clause.values]


def _compile(clause: Clause) -> tuple[str, list[Any]]:
    if isinstance(clause, Term):
        return _compile_term(clause)
    if isinstance(clause, Exists):
        if clause.field in TABLE_CONSTANTS:
            return "TRUE", []
        expr, params = field_sql(clause.field)
        return f"({expr} IS NOT NULL)", params
    if isinstance(clause, Range):
        expr, params = field_sql(clause.field)
        parts, values = [], []
        for op, value in clause.bounds:
            parts.append(f"{expr} {_RANGE_OPS[op]} ?")
            values += [*params, _bound(clause.field, value)]
        return "(" + " AND ".join(parts) + ")", values
    return _compile_bool(clause)


def _join(clauses: Sequence[Clause], sep: str, empty: str) -> tuple[str, list[Any]]:
    if not clauses:
        return empty, []
    texts, params = [], []
    for sub in clauses:
        text, sub_params = _compile(sub)
        texts.append(text)
        params += sub_params
    return "(" + f" {sep} ".join(texts) + ")", params


def _compile_bool(clause: Bool) -> tuple[str, list[Any]]:
    must, p1 = _join(clause.must, "AND", "TRUE")
    must_not, p2 = _join(clause.must_not, "OR", "FALSE")
    should, p3 = _join(clause.should, "OR", "TRUE")
    return f"({must} AND NOT {must_not} AND {should})", p1 + p2 + p3


def compile_where(clause: Clause | None) -> tuple[str, list[Any]]:
    """Compile a parsed query into a ``WHERE`` fragment and its bound parameters.

    >>> compile_where(parse_query({"terms": {"event.action": ["GetObject", "PutObject"]}}))
    ('CAST(event_action AS VARCHAR) IN (?, ?)', ['GetObject', 'PutObject'])
    """
    if clause is None:
        return "TRUE", []
    return _compile(clause)


def query_fields(clause: Clause | None) -> list[str]:
    """Every field a parsed query names, in order of first mention.

    >>> query_fields(parse_query({"bool": {"must_not": {"term": {"user.name": "x"}}}}))
    ['user.name']
    """
    found: list[str] = []

    def visit(node: Clause) -> None:
        if isinstance(node, Bool):
            for sub in (*node.must, *node.must_not, *node.should):
                visit(sub)
        elif node.field not in found:
            found.append(node.field)

    if clause is not None:
        visit(clause)
    return found
