"""Tail probabilities of the series model's views, and how they combine.

Pure functions shared by :mod:`.series`: the side of a detector picks the tail, a model fitted on
few samples widens it, the single- and multi-bucket views combine into one probability, and
Elastic's ``multi_bucket_impact`` says which of them carried the anomaly.
"""

from __future__ import annotations

import math

from scipy import special

from trailspike.models.base import Side


def side_probability(lower: float, upper: float, side: Side) -> float:
    """Tail probability for a side: one-sided for high/low, two-sided for both.

    >>> side_probability(0.99, 0.01, "high"), side_probability(0.99, 0.01, "low")
    (0.01, 0.99)
    >>> side_probability(0.99, 0.01, "both")
    0.02
    """
    if side == "high":
        return upper
    if side == "low":
        return lower
    return min(1.0, 2.0 * min(lower, upper))


def parameter_uncertainty(tail: float, dof: float) -> float:
    """Widen a tail probability for a model fitted on ``dof`` effective samples.

    The tail's normal quantile is read as a Student-t quantile with ``dof`` degrees of freedom
    (the predictive distribution when the spread itself is estimated), so a model that has seen
    few buckets is not overconfident; with much history nothing changes.

    >>> round(parameter_uncertainty(1e-6, 5.0), 4), round(parameter_uncertainty(1e-6, 1e6), 8)
    (0.0025, 1e-06)
    """
    if tail >= 0.5 or dof > 1e5:
        return tail
    z = float(special.ndtri(tail))
    return max(tail, float(special.stdtr(dof, z)))


def combine_probabilities(single: float, multi: float) -> float:
    """Probability that either view is this extreme: the smaller, corrected for two looks.

    The correction ``a (1 + sqrt(a))`` runs from Bonferroni's factor 2 for unremarkable
    probabilities to almost none in the far tail: the two views are strongly correlated (the
    multi-bucket window contains this bucket), so doubling an extreme probability would be
    over-conservative. It is monotone in both views.

    >>> round(combine_probabilities(0.01, 0.5), 4), round(combine_probabilities(1e-6, 0.5), 9)
    (0.011, 1.001e-06)
    >>> combine_probabilities(1.0, 1.0)
    1.0
    """
    a = min(single, multi)
    return max(1e-300, min(1.0, a * (1.0 + math.sqrt(max(a, 0.0)))))


def multi_bucket_impact(single: float, multi: float) -> float:
    """Elastic's -5..+5 share of the anomaly due to the multi-bucket view.

    >>> multi_bucket_impact(1e-9, 1.0), multi_bucket_impact(1.0, 1e-9)
    (-5.0, 5.0)
    """
    ls, lm = -math.log(max(single, 1e-300)), -math.log(max(multi, 1e-300))
    top = max(ls, lm)
    if top <= 0.0:
        return -5.0
    return max(-5.0, min(5.0, 5.0 * (lm - ls) / top))
