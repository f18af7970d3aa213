"""Weigh the steps' signals into a verdict hint with its reasons.

Implementation decisions: the hint is a transparent sum, not a model: each step says which way it
points and how strongly (1-3), and the headline quotes the strongest reasons, so an analyst can
see exactly why and disagree. A benign headline names the benign story the reasons support
(automation bug, housekeeping, new-service adoption, planned change) because that is what the
rule's false-positive guidance asks the analyst to rule out.
"""

from __future__ import annotations

from collections.abc import Sequence

from trailspike.triage.results import StepResult, Verdict

SUSPICIOUS_AT = 4  # total suspicious weight needed to call it suspicious
BENIGN_AT = 3
MARGIN = 2


def _benign_story(steps: Sequence[StepResult]) -> str:
    reasons = " ".join(r for s in steps if s.verdict_signal == "benign" for r in s.reasons)
    if "one repeated message" in reasons:
        return "likely automation bug"
    if "housekeeping" in reasons:
        return "likely housekeeping"
    if "new to these principals" in reasons:
        return "likely new-service adoption"
    if "deploy" in reasons:
        return "likely planned change"
    return "likely benign"


def decide_verdict(steps: Sequence[StepResult]) -> Verdict:
    """The verdict hint for a triage's steps.

    >>> from trailspike.triage.results import StepResult
    >>> s = [StepResult("a", "?", "", {}, "", "suspicious", ("new country (RU)",), 3),
    ...      StepResult("b", "?", "", {}, "", "suspicious", ("40 distinct denied",), 3)]
    >>> decide_verdict(s).headline
    'suspicious: new country (RU), 40 distinct denied'
    """
    suspicious = sorted(
        (s for s in steps if s.verdict_signal == "suspicious"), key=lambda s: -s.weight
    )
    benign = sorted((s for s in steps if s.verdict_signal == "benign"), key=lambda s: -s.weight)
    up = sum(s.weight for s in suspicious)
    down = sum(s.weight for s in benign)
    up_reasons = tuple(r for s in suspicious for r in s.reasons)
    down_reasons = tuple(r for s in benign for r in s.reasons)
    score = up - down
    if up >= SUSPICIOUS_AT and score >= MARGIN:
        headline = "suspicious: " + ", ".join(up_reasons[:4])
        return Verdict("suspicious", headline, up_reasons, down_reasons, score)
    if down >= BENIGN_AT and score <= -MARGIN:
        headline = f"{_benign_story(benign)}: " + ", ".join(down_reasons[:4])
        return Verdict("likely benign", headline, up_reasons, down_reasons, score)
    parts = []
    if up_reasons:
        parts.append("for concern: " + ", ".join(up_reasons[:3]))
    if down_reasons:
        parts.append("against: " + ", ".join(down_reasons[:3]))
    headline = "needs review: " + ("; ".join(parts) or "no strong sign either way")
    return Verdict("needs review", headline, up_reasons, down_reasons, score)
