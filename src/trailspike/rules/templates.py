"""Error-message templates: variants of one error grouped by masking what differs per resource.

An alert's reason and details list the top error messages by *template*: "User <arn> is not
authorized to perform: iam:List<n>" rather than one line per user. ARNs, UUIDs, numbers and
hex-like ids (a token of six or more hex digits with a digit in it: an object key, a hash, a
resource id) are masked, in that order. Unlike a job's *wording* (``features/wording.py``),
which keeps resources so that enumeration counts, a template is for reading: it groups.

Implementation decisions: the templates are computed in DuckDB (``template_sql``, patterns bound
as parameters), so the counts cover every message of the bucket, not a sample of them; the same
patterns in Python (:func:`message_template`) serve tests and one-off use. The patterns use only
what RE2 and Python's ``re`` read alike.
"""

from __future__ import annotations

import re
from typing import Any

from trailspike.features.wording import apply_masks, masked_sql

_HEX = "[0-9a-fA-F]"
TEMPLATE_MASKS: tuple[tuple[str, str], ...] = (
    (r"arn:[^\s\"',;)]+", "<arn>"),
    (rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b", "<id>"),
    (r"\b[0-9]+(\.[0-9]+)*\b", "<n>"),
    # Six or more hex digits with a digit among them ("obj-a3f9c2e1", a sha): no look-ahead in
    # RE2, so a digit with five hex digits before or after it.
    (
        rf"\b(?:{_HEX}{{0,64}}[0-9]{_HEX}{{5,64}}|{_HEX}{{5,64}}[0-9]{_HEX}{{0,64}})\b",
        "<hex>",
    ),
    (r"([A-Za-z_-])[0-9]+\b", r"\1<n>"),
)
# ASCII: RE2 reads \b and [A-Za-z] over ASCII only, and the two must group alike.
_COMPILED = tuple((re.compile(pattern, re.ASCII), mask) for pattern, mask in TEMPLATE_MASKS)


def message_template(message: str) -> str:
    """An error message with ARNs, ids and numbers masked, so variants of one error group.

    >>> message_template("User arn:aws:iam::1:user/x is not authorized to perform: iam:List7")
    'User <arn> is not authorized to perform: iam:List<n>'
    >>> message_template("Access Denied for object obj-a3f9c2e1d0 (size 1024)")
    'Access Denied for object obj-<hex> (size <n>)'
    >>> message_template("The facade of decade 12 was accessed")
    'The facade of decade <n> was accessed'
    """
    return apply_masks(message, _COMPILED)


def template_sql(expr: str) -> tuple[str, list[Any]]:
    """DuckDB SQL for the template of the text expression ``expr`` (patterns bound).

    >>> template_sql("error_message")[0].count("regexp_replace")
    5
    """
    return masked_sql(expr, [], TEMPLATE_MASKS)
