"""Columnar event buffer: the world's events as small integers until they are written.

Generators append whole arrays at once (times, calls, addresses), so three weeks of a busy
estate are a few dozen numpy operations rather than a million Python objects. Strings (call,
principal, address, user agent, error kind) are interned into tables; the writer turns rows back
into CloudTrail records.

Implementation decisions: times are integer milliseconds since the Unix epoch (naive UTC), so
sorting and bucketing are exact; every column is a plain numpy array so the buffer concatenates
in one step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trailspike.demo.catalog import CALLS, OTHER_ERRORS, USER_AGENTS
from trailspike.demo.world import VARIANTS, Principal

CALL_KEYS: tuple[str, ...] = tuple(CALLS)
CALL_INDEX = {k: i for i, k in enumerate(CALL_KEYS)}
UA_KEYS: tuple[str, ...] = tuple(USER_AGENTS)
UA_INDEX = {k: i for i, k in enumerate(UA_KEYS)}
# Error kinds: 0 none, 1 authorization failure (wording from catalog.denied), then OTHER_ERRORS.
ERROR_KINDS: tuple[str, ...] = ("", "denied", *OTHER_ERRORS)
ERROR_INDEX = {k: i for i, k in enumerate(ERROR_KINDS)}

IntArray = npt.NDArray[np.int64]
COLUMNS = ("t", "account", "region", "principal", "call", "variant", "ip", "ua", "error")


@dataclass
class EventColumns:
    """The finished buffer: one numpy array per column, all the same length."""

    t: IntArray
    account: IntArray
    region: IntArray
    principal: IntArray
    call: IntArray
    variant: IntArray
    ip: IntArray
    ua: IntArray
    error: IntArray

    def __len__(self) -> int:
        return len(self.t)


def _column(value: object, n: int) -> IntArray:
    arr = np.asarray(value, dtype=np.int64)
    return np.full(n, int(arr), dtype=np.int64) if arr.ndim == 0 else arr


class EventBuffer:
    """Collects events as arrays; :meth:`finish` concatenates them into :class:`EventColumns`.

    >>> from trailspike.demo.cast import build_cast
    >>> buf = EventBuffer(build_cast(1), np.random.default_rng(1))
    >>> buf.add(np.array([1000, 2000]), "bob", 0, "s3:ListBuckets", ip="81.2.69.150", ua="cli_mac")
    >>> len(buf.finish())
    2
    """

    def __init__(self, cast: dict[str, Principal], rng: np.random.Generator) -> None:
        self.cast = cast
        self.principal_names = tuple(cast)
        self._principal_index = {n: i for i, n in enumerate(self.principal_names)}
        self.rng = rng
        self.addresses: list[str] = []
        self._address_index: dict[str, int] = {}
        self._parts: dict[str, list[IntArray]] = {c: [] for c in COLUMNS}

    def address_ids(self, addresses: object) -> IntArray:
        """Intern one address or an array of addresses; return their ids."""
        if isinstance(addresses, str):
            return np.asarray(self._intern(addresses), dtype=np.int64)
        return np.fromiter((self._intern(a) for a in addresses), dtype=np.int64)  # type: ignore[attr-defined]

    def _intern(self, address: str) -> int:
        idx = self._address_index.get(address)
        if idx is None:
            idx = self._address_index[address] = len(self.addresses)
            self.addresses.append(address)
        return idx

    def add(
        self,
        t_ms: IntArray,
        principal: str,
        account: int | IntArray,
        calls: str | IntArray,
        *,
        region: int | IntArray = 0,
        ip: str | int | IntArray = "",
        ua: str | IntArray = "",
        error: str | IntArray = "",
        variant: int | IntArray | None = None,
    ) -> None:
        """Append ``len(t_ms)`` events; scalars are broadcast.

        ``calls`` is a catalog key or an array of call ids (see :data:`CALL_INDEX`); ``ip`` an
        address or array of address ids; ``ua`` a user-agent key or ids; ``error`` an error kind
        or ids (:data:`ERROR_INDEX`). ``variant`` picks which resource of each kind a call
        names; random when omitted.
        """
        n = len(t_ms)
        if n == 0:
            return
        principal_obj = self.cast[principal]
        if isinstance(calls, str):
            calls = np.asarray(CALL_INDEX[calls])
        if isinstance(ua, str):
            ua = np.asarray(UA_INDEX[ua or principal_obj.user_agents[0]])
        if isinstance(error, str):
            error = np.asarray(ERROR_INDEX[error])
        ip_ids = self.address_ids(ip) if isinstance(ip, str) else ip
        if variant is None:
            variant = self.rng.integers(0, VARIANTS, n)
        values = {
            "t": t_ms,
            "account": account,
            "region": region,
            "principal": self._principal_index[principal],
            "call": calls,
            "variant": variant,
            "ip": ip_ids,
            "ua": ua,
            "error": error,
        }
        for name, value in values.items():
            column = _column(value, n)
            if len(column) != n:
                raise ValueError(f"column {name} has {len(column)} values, expected {n}")
            self._parts[name].append(column)

    def finish(self) -> EventColumns:
        """All events appended so far, as one set of arrays (unsorted)."""
        arrays = {
            c: np.concatenate(p) if p else np.zeros(0, dtype=np.int64)
            for c, p in self._parts.items()
        }
        return EventColumns(**arrays)


def call_ids(keys: tuple[str, ...] | list[str]) -> IntArray:
    """Catalog ids of call keys.

    >>> int(call_ids(["iam:ListUsers"])[0]) == CALL_INDEX["iam:ListUsers"]
    True
    """
    return np.array([CALL_INDEX[k] for k in keys], dtype=np.int64)
