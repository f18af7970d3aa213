"""The one place jobs get models from: series, rare, population models and the normaliser.

Jobs code against these functions and the contracts in :mod:`trailspike.models.base`, never
against model classes, so the maths can improve behind a stable API.

>>> m = new_series_model("count", "high", 900.0)
>>> for i in range(200):
...     m.learn_one(i * 900.0, 10.0 + (i % 3))
>>> m.score_one(200 * 900.0, 60.0).probability < 1e-3
True
"""

from __future__ import annotations

from trailspike.models.base import RareModel, SeriesKind, SeriesModel, Side
from trailspike.models.normalizer import ScoreNormalizer
from trailspike.models.rare import CategoryModel, PopulationModel
from trailspike.models.series import TimeSeriesModel
from trailspike.models.state import dump_state, load_state, memory_bytes

__all__ = [
    "PopulationModel",
    "ScoreNormalizer",
    "dump_state",
    "load_state",
    "memory_bytes",
    "new_normalizer",
    "new_population_model",
    "new_rare_model",
    "new_series_model",
]


def new_series_model(kind: SeriesKind, side: Side, bucket_span: float) -> SeriesModel:
    """A model for one numeric series sampled once per bucket.

    Parameters
    ----------
    kind
        ``"count"`` for event and distinct counts (non-negative integers), ``"metric"`` otherwise.
    side
        ``"high"`` / ``"low"`` for one-sided functions (``high_count``, ``low_mean`` …),
        ``"both"`` for the two-sided ones (``count``, ``mean`` …).
    bucket_span
        The job's bucket span in seconds.
    """
    return TimeSeriesModel(kind, side, float(bucket_span))


def new_population_model() -> PopulationModel:
    """Category statistics shared by all partitions of one ``rare``/``freq_rare`` detector."""
    return PopulationModel()


def new_rare_model(
    bucket_span: float,
    *,
    frequency_weighted: bool = False,
    population: PopulationModel | None = None,
) -> RareModel:
    """A category model for one partition; pass the detector's shared ``population``.

    ``frequency_weighted=True`` is ``freq_rare``: categories are counted per event, not per bucket.
    """
    return CategoryModel(
        float(bucket_span),
        frequency_weighted=frequency_weighted,
        population=population if population is not None else PopulationModel(),
    )


def new_normalizer() -> ScoreNormalizer:
    """A score normaliser for one job (observe raw probabilities, then normalise to 0-100)."""
    return ScoreNormalizer()
