"""The models of one detector, and scoring/learning one bucket of its feature rows.

:class:`DetectorModels` holds a detector's models, created on first sight of a series through
:mod:`trailspike.models.factory`: one series model per ``(partition, by)`` for numeric
functions, one category model per ``(partition, over)`` for ``rare``/``freq_rare`` (sharing one
population model per detector). :meth:`DetectorModels.score` scores a bucket *before* it is
learnt (:meth:`DetectorModels.learn`), so a value never explains itself.

Implementation decisions:

- Count-family functions see a bucket without events as 0 for every series already known
  (Elastic's zero fill); others skip it. Population (``over``) series are not zero-filled: an
  absent member is not a member that did nothing.
- ``over`` for numeric functions is modelled as the population: every member's value is scored
  against, and learnt into, the one model of its ``(partition, by)`` series.
- ``rare`` results have no model confidence of their own; they get the detector's: it grows
  from 0 to 1 over the detector's first day (at least 24 buckets), so the first buckets of a new
  job, when everything is new, cannot score high.
- Every model records when its series was last seen, so :meth:`DetectorModels.prune` can drop
  those unseen for ``model_prune_window`` (and the oldest first when memory is short). At the
  memory limit, as in Elastic's ``hard_limit``, series without a model are scored against the
  population only and get no model until memory is available again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trailspike.jobs.custom_rules import rule_actions
from trailspike.jobs.rows import FlatRows, RareRows, group_rows
from trailspike.jobs.schema import Detector
from trailspike.models.base import RareModel, SeriesModel
from trailspike.models.factory import (
    PopulationModel,
    new_population_model,
    new_rare_model,
    new_series_model,
)
from trailspike.models.rare import CategoryModel, IntArray
from trailspike.models.rare_matrix import PartitionMatrix, learn_flat
from trailspike.models.rare_scoring import BucketScores, learn_partitions, score_bucket, score_ids
from trailspike.models.state import restore_attributes

Key = tuple[str, str, str]
"""A series: (partition value, by value, over value); '' where the detector does not split."""

DAY = 86400.0
RECORD_PROBABILITY = 0.035
"""Results less probable than this can become records (ml-cpp's maximum anomalous probability)."""
NONE: frozenset[str] = frozenset()


@dataclass
class Scored:
    """One series' result for one bucket, before normalisation."""

    detector_index: int
    key: Key
    actual: float
    probability: float
    confidence: float
    typical: float | None = None
    lower: float | None = None
    upper: float | None = None
    multi_bucket_impact: float | None = None
    single_bucket_probability: float | None = None
    multi_bucket_probability: float | None = None
    actions: frozenset[str] = frozenset()
    novelty: Novelty | None = None
    repeat_probability: float = 1.0  # the value repeated exactly (models.repeats)
    repeated_buckets: int = 0


@dataclass(frozen=True)
class Novelty:
    """A ``rare`` result of a category new to its partition in a bucket with a burst of them:
    what :func:`trailspike.models.rare.burst_probability` needs to score the burst as known by
    an early result's data end (:mod:`trailspike.jobs.novelty`)."""

    alone: float
    surprise: float  # how rare the category is among those new to the partition
    tail: tuple[float, ...]
    floor: float
    count: int = 0  # new categories of the burst (known by the data end, for early results)
    burst: float = 1.0  # the burst's probability with those


@dataclass
class DetectorModels:
    """All models of one detector (pickled into the job's state)."""

    detector_index: int
    function: str
    bucket_span: float
    series: dict[tuple[str, str], SeriesModel] = field(default_factory=dict)
    rare: dict[tuple[str, str], RareModel] = field(default_factory=dict)
    population: PopulationModel = field(default_factory=new_population_model)
    last_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    first_t: float | None = None
    at_memory_limit: bool = False  # while True, series not modelled yet stay unmodelled
    # The last bucket's rare groups, so learning does not regroup what scoring just grouped
    # (holds the values mapping itself, so identity cannot be confused). Never pickled.
    _grouped: (
        tuple[
            Mapping[Key, float], dict[tuple[str, str], dict[str, int]] | FlatRows, IntArray | None
        ]
        | None
    ) = field(default=None, repr=False, compare=False)
    # The rare models' arrays as rows of matrices (models/rare_matrix.py); a cache, never pickled.
    _matrix: PartitionMatrix | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_grouped", None)
        state.pop("_matrix", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_attributes(self, state)
        self._grouped = None
        self._matrix = None

    @property
    def matrix(self) -> PartitionMatrix:
        """The rare models' arrays as matrix rows (built on first use after a load)."""
        if self._matrix is None:
            self._matrix = PartitionMatrix()
        return self._matrix

    # ---------------------------------------------------------------- helpers
    def _series_model(self, det: Detector, key: tuple[str, str]) -> SeriesModel:
        model = self.series.get(key)
        if model is None:
            spec = det.spec
            model = new_series_model(spec.series_kind, spec.side, self.bucket_span)
            self.series[key] = model
        return model

    def _rare_model(self, det: Detector, key: tuple[str, str]) -> RareModel:
        model = self.rare.get(key)
        if model is None:
            model = new_rare_model(
                self.bucket_span,
                frequency_weighted=det.function == "freq_rare",
                population=self.population,
            )
            self.rare[key] = model
        return model

    def confidence(self, t: float) -> float:
        """The detector's own warm-up confidence (used for ``rare``)."""
        if self.first_t is None:
            return 0.0
        return max(0.0, min(1.0, (t - self.first_t) / max(DAY, 24 * self.bucket_span)))

    def fill_zeros(self, det: Detector, values: Mapping[Key, float]) -> Mapping[Key, float]:
        """Add a 0 for every known non-population series missing from the bucket, if the
        function counts empty buckets as 0."""
        if not det.spec.zero_fill or det.over_field_name:
            return values
        filled = dict(values)
        for partition, by in self.series:
            filled.setdefault((partition, by, ""), 0.0)
        return filled

    # ---------------------------------------------------------------- scoring
    def score(
        self,
        det: Detector,
        filters: Mapping[str, tuple[str, ...]],
        t: float,
        values: Mapping[Key, float],
    ) -> list[Scored]:
        """Score every series value of the bucket starting at ``t`` (nothing is learnt)."""
        if det.spec.is_rare:
            return self._score_rare(det, filters, t, values)
        out = []
        for key, value in values.items():
            model = self.series.get((key[0], key[1]))
            if model is None:
                out.append(Scored(self.detector_index, key, value, 1.0, 0.0))
                continue
            s = model.score_one(t, value)
            out.append(
                Scored(
                    self.detector_index,
                    key,
                    value,
                    s.probability,
                    s.confidence,
                    s.typical,
                    s.lower,
                    s.upper,
                    s.multi_bucket_impact,
                    s.single_bucket_probability,
                    s.multi_bucket_probability,
                    rule_actions(det, filters, key, value, s.typical),
                    repeat_probability=s.repeat_probability,
                    repeated_buckets=s.repeated_buckets,
                )
            )
        return out

    def _score_rare(
        self,
        det: Detector,
        filters: Mapping[str, tuple[str, ...]],
        t: float,
        values: Mapping[Key, float],
    ) -> list[Scored]:
        return self._score_rare_rows(det, filters, t, values, keep_all=True)[1]

    def score_for_results(
        self,
        det: Detector,
        filters: Mapping[str, tuple[str, ...]],
        t: float,
        values: Mapping[Key, float],
    ) -> tuple[list[float], list[Scored]]:
        """Score the bucket at ``t``: the probabilities the normaliser observes (every series
        without ``skip_result``, in series order) and the results that can become records or
        model plots. For ``rare`` without custom rules, only probabilities below
        :data:`RECORD_PROBABILITY` become :class:`Scored` (the bucket's other categories
        can neither be records nor be plotted, and building an object per category per bucket
        was most of the cost)."""
        if det.spec.is_rare and not det.custom_rules:
            return self._score_rare_rows(det, filters, t, values, keep_all=False)
        scored = self.score(det, filters, t, values)
        return [s.probability for s in scored if "skip_result" not in s.actions], scored

    def _score_rare_rows(
        self,
        det: Detector,
        filters: Mapping[str, tuple[str, ...]],
        t: float,
        values: Mapping[Key, float],
        *,
        keep_all: bool,
    ) -> tuple[list[float], list[Scored]]:
        confidence = self.confidence(t)
        if isinstance(values, RareRows) and values.flat is not None:
            flat = values.flat
            found = self._score_flat_rows(det, filters, confidence, values, flat, keep_all)
            if found is not None:
                return found
        # Feature rows of a chunk come grouped already (jobs/rows.py); others are grouped here.
        groups = values.groups if isinstance(values, RareRows) else group_rows(values)
        self._grouped = (values, groups, None)
        if not groups:
            return [], []
        models = [self.rare.get(g) or self._rare_model_preview(det) for g in groups]
        categories = [list(counts) for counts in groups.values()]
        category_models = [m for m in models if isinstance(m, CategoryModel)]
        bursts: BucketScores | None = None
        if len(category_models) == len(models):
            # Every partition of the bucket in one array operation.
            bursts = score_bucket(category_models, categories, self.matrix)
            probs = bursts.final
            self._grouped = (values, groups, bursts.ids)  # learning reuses the ids
        else:
            probs = np.array(
                [
                    p
                    for m, c in zip(models, groups.values(), strict=True)
                    for p in m.score_bucket(t, c).values()
                ]
            )
        group_keys = list(groups)
        offsets = np.cumsum([len(c) for c in categories])
        wanted = np.arange(len(probs)) if keep_all else np.flatnonzero(probs < RECORD_PROBABILITY)
        rows = np.searchsorted(offsets, wanted, side="right").tolist()
        bys = [
            categories[r][n - (int(offsets[r - 1]) if r else 0)]
            for n, r in zip(wanted.tolist(), rows, strict=True)
        ]
        actuals = [float(groups[group_keys[r]][by]) for r, by in zip(rows, bys, strict=True)]
        return self._scored_rows(
            det, filters, confidence, probs, bursts, wanted, rows, group_keys, bys, actuals
        )

    def _score_flat_rows(
        self,
        det: Detector,
        filters: Mapping[str, tuple[str, ...]],
        confidence: float,
        values: RareRows,
        flat: FlatRows,
        keep_all: bool,
    ) -> tuple[list[float], list[Scored]] | None:
        """:meth:`_score_rare_rows` of rows kept as arrays: categories arrive as codes of the
        chunk's ``by`` values, mapped to population ids in one step (no dict per partition);
        None if a model is not a :class:`CategoryModel`."""
        if not flat.keys:
            return None
        models = [self.rare.get(g) or self._rare_model_preview(det) for g in flat.keys]
        category_models = [m for m in models if isinstance(m, CategoryModel)]
        if len(category_models) < len(models):
            return None
        ids = flat.categories.ids(self.population)[flat.codes]
        scores = score_ids(category_models, ids, flat.lengths, self.matrix)
        self._grouped = (values, flat, scores.ids)  # learning reuses the ids
        probs = scores.final
        wanted = np.arange(len(probs)) if keep_all else np.flatnonzero(probs < RECORD_PROBABILITY)
        rows = (np.searchsorted(flat.bounds[1:], wanted, side="right")).tolist()
        names = flat.categories.names
        bys = [names[code] for code in flat.codes[wanted].tolist()]
        actuals = flat.counts[wanted].astype(np.float64).tolist()
        return self._scored_rows(
            det, filters, confidence, probs, scores, wanted, rows, flat.keys, bys, actuals
        )

    def _scored_rows(
        self,
        det: Detector,
        filters: Mapping[str, tuple[str, ...]],
        confidence: float,
        probs: npt.NDArray[np.float64],
        bursts: BucketScores | None,
        wanted: npt.NDArray[np.intp],
        rows: list[int],
        group_keys: list[tuple[str, str]],
        bys: list[str],
        actuals: list[float],
    ) -> tuple[list[float], list[Scored]]:
        """The probabilities the normaliser observes and a :class:`Scored` per ``wanted``
        query (its model's row, ``by`` value and count in ``rows``, ``bys``, ``actuals``)."""
        out = []
        for n, r, by, actual in zip(wanted.tolist(), rows, bys, actuals, strict=True):
            group = group_keys[r]
            key = (group[0], by, group[1])
            actions = rule_actions(det, filters, key, actual, None) if det.custom_rules else NONE
            out.append(
                Scored(
                    self.detector_index,
                    key,
                    actual,
                    float(probs[n]),
                    confidence,
                    actions=actions,
                    novelty=_novelty(bursts, r, n) if bursts is not None else None,
                )
            )
        observed = probs.tolist()
        if det.custom_rules:
            observed = [s.probability for s in out if "skip_result" not in s.actions]
        return observed, out

    def _rare_model_preview(self, det: Detector) -> RareModel:
        """A fresh partition model on the shared population, not stored: a new partition's
        categories are scored against what the population knows."""
        return new_rare_model(
            self.bucket_span,
            frequency_weighted=det.function == "freq_rare",
            population=self.population,
        )

    def rescore(self, key: Key, t: float, value: float, single: bool = False) -> float:
        """Probability of ``value`` for series ``key`` at ``t`` (influencer experiments):
        the combined one, or with ``single`` the single-bucket view's."""
        model = self.series.get((key[0], key[1]))
        if model is None:
            return 1.0
        score = model.score_one(t, value)
        return score.single_bucket_probability if single else score.probability

    # ---------------------------------------------------------------- learning
    def learn(
        self, det: Detector, t: float, values: Mapping[Key, float], skip: set[Key] | None = None
    ) -> None:
        """Learn the bucket at ``t``, except the series in ``skip`` (``skip_model_update``)."""
        if values and self.first_t is None:
            self.first_t = t
        skip = skip or set()
        if det.spec.is_rare:
            cached = self._grouped
            self._grouped = None
            ids = None
            if not skip and cached is not None and cached[0] is values:
                grouped, ids = cached[1], cached[2]
                if isinstance(grouped, FlatRows):
                    if ids is not None and self._learn_flat(det, t, grouped, ids):
                        return
                    grouped = values.groups if isinstance(values, RareRows) else {}
                groups = grouped
            else:
                groups = group_rows(values, skip)
            if ids is not None and self._learn_scored(det, t, groups, ids):
                return
            for group, counts in groups.items():
                if self.at_memory_limit and group not in self.rare:
                    continue
                self._rare_model(det, group).learn_bucket(t, counts)
                self.last_seen[group] = t
            return
        for key, value in values.items():
            if key in skip:
                continue
            series = (key[0], key[1])
            if self.at_memory_limit and series not in self.series:
                continue
            self._series_model(det, series).learn_one(t, value)
            if value != 0.0 or series not in self.last_seen:
                self.last_seen[series] = t

    def _learn_scored(
        self, det: Detector, t: float, groups: dict[tuple[str, str], dict[str, int]], ids: IntArray
    ) -> bool:
        """Learn a bucket just scored with :func:`score_bucket` (``ids``: its categories'
        population ids then) in one call; False if a model is not a :class:`CategoryModel`."""
        rows = [
            r
            for r, group in enumerate(groups)
            if not (self.at_memory_limit and group not in self.rare)
        ]
        keys = list(groups)
        models = [self._rare_model(det, keys[r]) for r in rows]
        category_models = [m for m in models if isinstance(m, CategoryModel)]
        if len(category_models) < len(models):
            return False
        learn_partitions(category_models, t, list(groups.values()), ids, rows, self.matrix)
        for r in rows:
            self.last_seen[keys[r]] = t
        return True

    def _learn_flat(self, det: Detector, t: float, flat: FlatRows, ids: IntArray) -> bool:
        """:meth:`_learn_scored` of rows kept as arrays (:meth:`_score_flat_rows`)."""
        keys, rare = flat.keys, self.rare
        if self.at_memory_limit:
            rows = [r for r, group in enumerate(keys) if group in rare]
        else:
            rows = list(range(len(keys)))
        # A model is created (in row order) only when missing: one dict lookup for the others.
        models = [rare.get(keys[r]) or self._rare_model(det, keys[r]) for r in rows]
        category_models = [m for m in models if isinstance(m, CategoryModel)]
        if len(category_models) < len(models):
            return False
        names, codes = flat.categories.names, flat.codes

        def name_of(j: int) -> str:
            return names[int(codes[j])]

        bounds, counts = flat.bounds, flat.counts
        if not learn_flat(self.matrix, category_models, t, ids, counts, bounds, rows, name_of):
            return False
        # As one assignment per key in row order: new keys are appended in that order.
        self.last_seen.update(dict.fromkeys([keys[r] for r in rows], t))
        return True

    # ---------------------------------------------------------------- housekeeping
    @property
    def model_count(self) -> int:
        return len(self.series) + len(self.rare)

    def prune(self, before: float) -> int:
        """Drop models whose series was last seen before ``before``; returns how many."""
        stale = [k for k, seen in self.last_seen.items() if seen < before]
        for k in stale:
            self.drop(k)
        return len(stale)

    def drop(self, key: tuple[str, str]) -> None:
        """Forget the model of series ``key`` (pruning, the memory limit)."""
        self.series.pop(key, None)
        model = self.rare.pop(key, None)
        if isinstance(model, CategoryModel) and self._matrix is not None:
            self._matrix.release(model)
        self.last_seen.pop(key, None)

    def oldest(self, n: int) -> list[tuple[float, tuple[str, str]]]:
        """The ``n`` least recently seen models, as (last seen, key)."""
        return sorted((seen, k) for k, seen in self.last_seen.items())[:n]


def _novelty(scores: BucketScores, row: int, n: int) -> Novelty | None:
    """The burst behind query ``n`` (of partition ``row``), if its category is new and the
    partition's new categories of the bucket are a burst."""
    burst = scores.bursts.get(row)
    if burst is None or not scores.new[n]:
        return None
    return Novelty(
        float(scores.alone[n]),
        float(scores.surprise[n]),
        tuple(burst.tail.tolist()),
        burst.floor,
        burst.count,
        burst.probability,
    )
