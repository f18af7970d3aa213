"""Load rule files into a :class:`RuleCollection`, with errors that name the file and key.

Implementation decisions: nothing is read at import time; :func:`load_rules` with no paths reads
the rules shipped in ``trailspike/definitions/rules``. File names must match detection-rules'
``FILE_PATTERN`` so names stay greppable and portable. Duplicate ``rule_id`` values across files
are an error, because the rule id is part of every alert id.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trailspike.core.errors import ConfigError, SourceLocation
from trailspike.rules.schema import MachineLearningRuleData, RuleFile

FILE_PATTERN = re.compile(r"^[a-z0-9_]+\.toml$")


@dataclass(frozen=True)
class LoadedRule:
    """A validated rule file and where it came from."""

    path: Path
    file: RuleFile

    @property
    def rule(self) -> MachineLearningRuleData:
        return self.file.rule

    @property
    def rule_id(self) -> str:
        return self.file.rule.rule_id


@dataclass
class RuleCollection:
    """Rules by id, in load order."""

    items: list[LoadedRule] = field(default_factory=list)

    def __iter__(self) -> Iterator[MachineLearningRuleData]:
        return (item.rule for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def ids(self) -> list[str]:
        return [item.rule_id for item in self.items]

    def get(self, rule_id: str) -> MachineLearningRuleData:
        """The rule with ``rule_id``; a :class:`ConfigError` listing known ids otherwise."""
        return self.loaded(rule_id).rule

    def loaded(self, rule_id: str) -> LoadedRule:
        for item in self.items:
            if item.rule_id == rule_id:
                return item
        raise ConfigError(f"unknown rule {rule_id!r}; known: {', '.join(self.ids()) or 'none'}")

    def add(self, item: LoadedRule) -> None:
        for existing in self.items:
            if existing.rule_id == item.rule_id:
                raise ConfigError(
                    f"rule_id {item.rule_id} is also defined in {existing.path}",
                    SourceLocation(str(item.path)),
                )
        self.items.append(item)


def shipped_rules_dir() -> Path:
    """The folder of rule files that ship with trailspike."""
    return Path(str(resources.files("trailspike.definitions") / "rules"))


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_rule_text(text: str, path: Path) -> RuleFile:
    """Validate the TOML ``text`` of one rule file; errors name ``path`` and the key or line."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"not valid TOML: {exc}", SourceLocation(str(path), line)) from exc
    try:
        return RuleFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc), SourceLocation(str(path))) from exc


def load_rule_file(path: Path) -> LoadedRule:
    """Read and validate one rule file."""
    if not FILE_PATTERN.match(path.name):
        raise ConfigError(
            "rule file names must match ^[a-z0-9_]+\\.toml$", SourceLocation(str(path))
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", SourceLocation(str(path))) from exc
    return LoadedRule(path=path, file=parse_rule_text(text, path))


def _rule_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError("no such rule file or folder", SourceLocation(str(path)))
    return files


def load_rules(paths: Sequence[str | Path] | None = None) -> RuleCollection:
    """Load rule files (folders are read for ``*.toml``); ``None`` loads the shipped rules.

    Parameters
    ----------
    paths
        Files or folders. ``None`` means the rules shipped in ``trailspike/definitions/rules``.

    Returns
    -------
    RuleCollection
        Every rule, validated; duplicate rule ids raise :class:`ConfigError`.

    Examples
    --------
    >>> "78d3d8d9-b476-451d-a9e0-7a5addd70670" in load_rules().ids()
    True
    """
    chosen = [shipped_rules_dir()] if paths is None else [Path(p) for p in paths]
    collection = RuleCollection()
    for path in _rule_files(chosen):
        collection.add(load_rule_file(path))
    return collection
