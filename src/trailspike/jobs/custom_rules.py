"""Detector custom rules: when a result is skipped or a model update is held back.

Elastic's ``custom_rules`` apply to one series of one bucket. A rule applies when every scope
entry matches (the series' by/over/partition value is in, or for ``exclude`` not in, the named
filter list) and every numeric condition holds on ``actual``, ``typical`` or
``diff_from_typical`` (``|actual - typical|``). Its ``actions`` are then taken: ``skip_result``
drops the record, ``skip_model_update`` keeps the value out of the model.

Implementation decisions: a condition on ``typical`` for a series without one (``rare``) does
not hold, so such a rule never fires rather than firing on a guess.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from trailspike.jobs.schema import CustomRule, Detector, RuleCondition

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _condition_holds(cond: RuleCondition, actual: float, typical: float | None) -> bool:
    if cond.applies_to == "actual":
        subject = actual
    elif typical is None:
        return False
    elif cond.applies_to == "typical":
        subject = typical
    else:
        subject = abs(actual - typical)
    return _OPERATORS[cond.operator](subject, cond.value)


def _scope_matches(
    rule: CustomRule,
    detector: Detector,
    key: tuple[str, str, str],
    filters: Mapping[str, tuple[str, ...]],
) -> bool:
    values = {
        detector.partition_field_name: key[0],
        detector.by_field_name: key[1],
        detector.over_field_name: key[2],
    }
    for field, ref in rule.scope.items():
        inside = values.get(field) in set(filters.get(ref.filter_id, ()))
        if inside != (ref.filter_type == "include"):
            return False
    return True


def rule_actions(
    detector: Detector,
    filters: Mapping[str, tuple[str, ...]],
    key: tuple[str, str, str],
    actual: float,
    typical: float | None,
) -> frozenset[str]:
    """The actions of every custom rule of ``detector`` that applies to this series value.

    >>> from trailspike.jobs.schema import Detector
    >>> det = Detector.model_validate({"function": "high_count", "custom_rules": [
    ...     {"actions": ["skip_result"], "conditions": [
    ...         {"applies_to": "actual", "operator": "lt", "value": 10}]}]})
    >>> key = ("", "", "")
    >>> sorted(rule_actions(det, {}, key, 3.0, 1.0)), rule_actions(det, {}, key, 30.0, 1.0)
    (['skip_result'], frozenset())
    """
    actions: set[str] = set()
    for rule in detector.custom_rules:
        if not _scope_matches(rule, detector, key, filters):
            continue
        if all(_condition_holds(c, actual, typical) for c in rule.conditions):
            actions.update(rule.actions)
    return frozenset(actions)
