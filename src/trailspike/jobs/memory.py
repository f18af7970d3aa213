"""How much memory a job's models hold, estimated cheaply enough to check every day of data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailspike.models.factory import memory_bytes

if TYPE_CHECKING:
    from trailspike.jobs.bucket import JobModels

MEMORY_SAMPLE = 16


def estimate_memory(models: JobModels) -> int:
    """Approximate bytes held by a job's models, from a fixed sample of each detector's models.

    Walking every model (:func:`~trailspike.models.state.memory_bytes`) of a job with thousands
    of partitions takes most of a second; a sample of :data:`MEMORY_SAMPLE` models, picked in
    key order so the estimate depends only on the state, is scaled to the model count. Objects
    the models share (the normaliser, population models) are counted once.
    """
    shared: list[Any] = [models.normalizer] + [d.population for d in models.detectors]
    base = memory_bytes(shared)
    total = float(base)
    for det in models.detectors:
        keys = sorted(det.last_seen)
        if not keys:
            continue
        step = max(1, len(keys) // MEMORY_SAMPLE)
        sample = [det.series.get(k) or det.rare.get(k) for k in keys[::step][:MEMORY_SAMPLE]]
        sampled = memory_bytes(shared + sample) - base
        total += sampled * len(keys) / len(sample) + memory_bytes(det.last_seen)
    return int(total)
