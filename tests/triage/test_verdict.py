"""The verdict hint weighs the steps' signals and names the story behind them."""

from __future__ import annotations

from trailspike.triage.results import StepResult
from trailspike.triage.verdict import decide_verdict


def _step(signal: str, reason: str, weight: int) -> StepResult:
    return StepResult("s", "?", "", {}, "", signal, (reason,), weight)  # type: ignore[arg-type]


def test_strong_suspicious_signals_make_a_suspicious_hint() -> None:
    verdict = decide_verdict(
        [
            _step("suspicious", "new country (RU)", 3),
            _step("suspicious", "40 distinct", 3),
            _step("benign", "CI user agent", 1),
        ]
    )
    assert verdict.label == "suspicious"
    assert verdict.headline == "suspicious: new country (RU), 40 distinct"
    assert verdict.benign_reasons == ("CI user agent",)
    assert verdict.score == 5


def test_repeated_message_names_an_automation_bug() -> None:
    verdict = decide_verdict(
        [
            _step("benign", "one principal, one repeated message (300 calls)", 2),
            _step("benign", "CI user agent", 1),
            _step("neutral", "", 0),
        ]
    )
    assert verdict.label == "likely benign"
    assert verdict.headline.startswith("likely automation bug: one principal")


def test_housekeeping_and_adoption_are_named() -> None:
    housekeeping = decide_verdict(
        [_step("benign", "weekly housekeeping (DeleteSnapshot)", 2), _step("benign", "x", 1)]
    )
    adoption = decide_verdict(
        [
            _step("benign", "errors confined to one service new to these principals (glue)", 1),
            _step("benign", "within the principal's usual hours", 1),
            _step("benign", "y", 1),
        ]
    )
    assert housekeeping.headline.startswith("likely housekeeping")
    assert adoption.headline.startswith("likely new-service adoption")


def test_mixed_or_weak_signals_need_review() -> None:
    mixed = decide_verdict([_step("suspicious", "new country (RU)", 3), _step("benign", "b", 2)])
    weak = decide_verdict([_step("neutral", "", 0)])
    assert mixed.label == "needs review"
    assert mixed.headline == "needs review: for concern: new country (RU); against: b"
    assert weak.headline == "needs review: no strong sign either way"
