"""A rare detector's partitions as matrix rows: the same models, scores and pickles."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from trailspike.models.rare import CategoryModel, PopulationModel
from trailspike.models.rare_matrix import PartitionMatrix
from trailspike.models.rare_scoring import learn_partitions, score_bucket

HOUR = 3600.0


def _bucket(rng: random.Random, h: int, parts: int) -> list[dict[str, int]]:
    """Random counts per partition; more categories later on, so arrays grow mid-run."""
    width = 12 if h < 60 else 40 if h < 150 else 90
    return [
        {f"M{rng.randrange(width)}": rng.randrange(1, 4) for _ in range(rng.randrange(1, 6))}
        for _ in range(parts)
    ]


def _pickled(models: list[CategoryModel], reloaded: bool) -> bytes:
    """The models and their population pickled; after a reload, as plain values: the old path
    keeps the loaded arrays' dtype objects and the matrix numpy's own, so the pickles name the
    dtypes at other places (the same numbers, other bytes)."""
    if not reloaded:
        return pickle.dumps(models)
    return pickle.dumps([_plain(vars(m)) for m in [*models, models[0].population]])


def _plain(value: object) -> object:
    """``value`` with arrays as (dtype, shape, bytes) and objects as their sorted attributes."""
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return sorted(
            (k, _plain(v)) for k, v in value.items() if k not in ("population", "_recent")
        )
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return _plain(vars(value))
    return value


@pytest.mark.parametrize("weighted", [False, True], ids=["rare", "freq_rare"])
def test_matrix_learning_and_scoring_equal_the_partitions_own(weighted: bool) -> None:
    """Scoring and learning through a PartitionMatrix give the same probabilities and leave
    every partition and the population pickled byte for byte as one partition at a time does,
    through pruned rows being reused, a partition growing its arrays on its own (so it leaves
    the matrix and is adopted again), a reload of the state, and days older than the ring."""
    rng = random.Random(5)
    pops = [PopulationModel(), PopulationModel()]
    parts = [[CategoryModel(HOUR, weighted, pop) for _ in range(8)] for pop in pops]
    matrix = PartitionMatrix()
    for h in range(24 * 12):
        t = h * HOUR if h != 200 else 100 * HOUR - 40 * 86400.0  # one bucket far in the past
        counts = _bucket(rng, h, 8)
        rows = [r for r in range(8) if h % 5 or r % 3]  # some partitions not learnt
        plain = score_bucket([parts[0][r] for r in range(8)], [list(c) for c in counts])
        fast = score_bucket(parts[1], [list(c) for c in counts], matrix)
        assert np.array_equal(plain.final, fast.final)
        for r in rows:
            parts[0][r].learn_bucket(t, counts[r])
        learn_partitions([parts[1][r] for r in rows], t, counts, fast.ids, rows, matrix)
        if h == 100:  # pruned and replaced by a new partition, in both
            matrix.release(parts[1][2])
            for side in (0, 1):
                parts[side][2] = CategoryModel(HOUR, weighted, pops[side])
        if h == 170:  # a partition learns on its own and grows past its capacity
            extra = {f"X{n}": 1 for n in range(70)}
            for side in (0, 1):
                parts[side][5].learn_bucket(t + 1.0, extra)
        if h == 230:  # reloaded state (both: a load reorders the pickled attributes)
            for side in (0, 1):
                parts[side] = pickle.loads(pickle.dumps(parts[side]))
                pops[side] = parts[side][0].population
            matrix = PartitionMatrix()  # rebuilt from the models
        assert _pickled(parts[0], h > 230) == _pickled(parts[1], h > 230), h
    assert pops[0].names == pops[1].names


def test_a_partition_not_modelled_yet_is_scored_from_the_zero_row() -> None:
    pop = PopulationModel()
    user = CategoryModel(HOUR, population=pop)
    for h in range(30):
        user.learn_bucket(h * HOUR, {"GetObject": 1})
    matrix = PartitionMatrix()
    fresh = CategoryModel(HOUR, population=pop)
    queries = [["GetObject", "DeleteTrail"], ["GetObject"]]
    got = score_bucket([user, fresh], queries, matrix)
    want = score_bucket([user, CategoryModel(HOUR, population=pop)], queries)
    assert np.array_equal(got.final, want.final)
    assert matrix.row_of == {id(user): 1}  # the fresh partition took no row
