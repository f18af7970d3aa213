"""Run anomaly-detection jobs over stored events: features → models → scores → results.

:func:`run_jobs` processes each job's *final* buckets in time order. A bucket is final when its
end plus the ``cloudtrail_delivery_delay`` and ``query_delay`` settings is not after ``now`` (so
CloudTrail files still on their way are not missed; the rules engine's look-back assumes the
same) and events after its end have been ingested. ``end`` replays history up to a given time
instead (only ``query_delay`` applies: history is complete). For every bucket the runner
scores each series with its model *before* learning it, lets the job's normaliser turn
probabilities into 0-100 scores, finds influencers for anomalous records, writes bucket,
record, influencer and model-plot results, and only then teaches the models the bucket.

Implementation decisions:

- Resumable and exact: work is committed per chunk in one transaction holding the chunk's
  results, the pickled models and ``last_bucket_end``. The first chunk of a run is
  ``commit_interval`` of event time (one day by default); while catching up on history, later
  ones grow up to ``history_commit_max`` (7 days) as long as one should take at most
  ``history_commit_seconds`` (30 s) of wall time (:mod:`trailspike.jobs.chunking`). A killed run
  loses at most the open chunk and redoes it; writes are idempotent, so nothing doubles.
  Everything a result depends on is in the persisted state, so one run over a month and many
  short runs give identical results.
- Jobs are independent, so a run processes ``job_threads`` (2) of them at once, each in its
  own thread, cursor and transactions (:mod:`trailspike.jobs.parallel`); a killed run loses
  the open chunk of each job that was running.
- Empty buckets: a job with a count-family detector processes every bucket (they count as 0);
  any other job skips buckets, and whole chunks, without events, since they change nothing.
  So bucket results exist for every bucket of a count job and for non-empty buckets otherwise.
- Records are written for results with probability below 0.035 (ml-cpp's "maximum anomalous
  probability") and an initial score above 0. Bucket ``anomaly_score`` is the highest record
  score of the bucket (kept in step by renormalisation).
- Renormalisation is triggered by the data, not by run boundaries: when the normaliser reports
  that the largest raw score grew by more than 10 %, ``record_score``, ``influencer_score`` and
  bucket ``anomaly_score`` of the job's results within the renormalisation window are
  recomputed from their stored probability and confidence; ``initial_*`` never change.
- Checkpoints are batched (:func:`~trailspike.store.results.batched_checkpoints`): DuckDB's
  automatic checkpoints, which rewrite the result tables' indexes whole, wait until the jobs
  are done; commits still reach the WAL.
- Memory: at the first processed bucket of every UTC day (fixed by the data, so pruning never
  depends on how runs were split), models of series unseen for ``model_prune_window`` are
  dropped; if the job is still above ``model_memory_limit``, the least recently seen go first
  (``memory_status`` ``hard_limit`` in the summary). ``job_state.memory_bytes`` holds the size
  of the serialised state; the summary reports the in-memory size.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from trailspike.core.errors import ConfigError, TrailspikeError
from trailspike.core.settings import load_settings
from trailspike.core.timeutil import parse_duration, utcnow
from trailspike.features.bucket_duckdb import (
    bucket_event_counts,
    chunk_events,
    compute_features,
    features_and_counts,
)
from trailspike.features.contract import FeatureRequest, feature_request
from trailspike.features.query import compile_where
from trailspike.features.source import FeatureFn
from trailspike.jobs.bucket import BucketProcessor, JobModels
from trailspike.jobs.chunking import (
    DEFAULT_COMMIT_INTERVAL,
    CommitPolicy,
    Window,
    occupied,
    paced_chunks,
    plan,
)
from trailspike.jobs.early import early_inputs, early_step
from trailspike.jobs.gc_pause import gc_paused
from trailspike.jobs.loader import JobCollection, load_jobs
from trailspike.jobs.memory import estimate_memory
from trailspike.jobs.parallel import RunStopped, Stopped, run_in_threads, usable_threads
from trailspike.jobs.schema import JobConfig
from trailspike.models.factory import dump_state, load_state
from trailspike.store.results import (
    JobState,
    appending,
    batched_checkpoints,
    load_job_state,
    save_job_state,
)

EPOCH = datetime(1970, 1, 1)


@dataclass
class JobRunSummary:
    """What one job run did."""

    job_id: str
    status: str  # "ran", "up to date", "no data", "error"
    start: datetime | None = None
    end: datetime | None = None
    buckets: int = 0
    events: int = 0
    records: int = 0
    max_record_score: float = 0.0
    renormalizations: int = 0
    models: int = 0
    pruned: int = 0
    memory_bytes: int = 0
    memory_limit_bytes: int = 0
    memory_status: str = "ok"
    seconds: float = 0.0
    # CPU time of the thread that ran the job (DuckDB's worker threads not included): with
    # jobs in threads the process's CPU time is no longer one job's.
    thread_cpu_seconds: float = 0.0
    error: str | None = None  # why the job could not run (status "error")

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _event_range(
    con: duckdb.DuckDBPyConnection, request: FeatureRequest, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """First event the job's datafeed selects, and the last event ingested up to ``now``.

    A bucket is final once events after it are stored. An event dated after ``now`` (a clock
    set wrong, a forged record) would vouch for buckets whose real files may still be on their
    way, so the job would pass them and never see those events: it is left out here.
    """
    where, params = compile_where(request.where)
    # `where` is compiled from the whitelisted query grammar; values are bound parameters.
    first = con.execute(f"SELECT min(ts) FROM events WHERE {where}", params).fetchall()[0][0]  # noqa: S608
    last = con.execute("SELECT max(ts) FROM events WHERE ts <= ?", [now]).fetchall()[0][0]
    return first, last


def changed_jobs(con: duckdb.DuckDBPyConnection, jobs: Sequence[JobConfig]) -> list[str]:
    """Ids of the ``jobs`` whose stored models were built from another definition."""
    return [job.job_id for job in jobs if _built_from_another(load_job_state(con, job.job_id), job)]


def _built_from_another(stored: JobState | None, job: JobConfig) -> bool:
    """Whether stored models exist and were built from another definition of ``job``."""
    return stored is not None and stored.job_revision != job.model_revision


def run_job(
    con: duckdb.DuckDBPyConnection,
    job: JobConfig,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    settings: Mapping[str, Any] | None = None,
    bar: Any = None,
    commit_interval: timedelta = DEFAULT_COMMIT_INTERVAL,
    features: FeatureFn = compute_features,
    commit_policy: CommitPolicy | None = None,
    stopped: Stopped | None = None,
) -> JobRunSummary:
    """Process the final buckets of one job not processed yet; see :func:`run_jobs`.
    ``bar`` is a started rich ``Progress`` the run's jobs share, or None; ``stopped`` says
    when to raise :class:`~trailspike.jobs.parallel.RunStopped` before the next chunk."""
    settings = load_settings() if settings is None else settings
    clock, thread_clock = time.perf_counter(), time.thread_time()
    request = feature_request(job)
    summary = JobRunSummary(job.job_id, "no data", memory_limit_bytes=job.model_memory_limit_bytes)
    stored = load_job_state(con, job.job_id)
    if _built_from_another(stored, job):
        raise ConfigError(
            f"job {job.job_id!r} changed (detectors, influencers, datafeed or trailspike "
            "options) since its models were built, e.g. by an upgrade of trailspike; run "
            f"`trailspike jobs reset {job.job_id}` (or `trailspike jobs reset --changed`) to "
            "rebuild it from the start"
        )
    now = now or utcnow()
    first, last = _event_range(con, request, now)
    window = plan(
        job,
        stored.last_bucket_end if stored else None,
        first,
        last,
        start,
        end,
        now,
        parse_duration(str(settings["query_delay"])),
        commit_interval,
        parse_duration(str(settings.get("cloudtrail_delivery_delay", "0m"))),
    )
    if window is None:
        return summary
    summary.start, summary.end, summary.status = window.begin, window.begin, "up to date"
    models = load_state(stored.state) if stored is not None and stored.state else JobModels.new(job)
    processor = BucketProcessor(con, job, request, models, _renormalization_window(job, settings))
    processor.early_step = early_step(job, settings)
    processor.defer_rare_early = processor.early_step is not None
    if end is None:
        # Live: data is complete up to now minus both delays; the open bucket gets early results.
        known = now - parse_duration(str(settings["query_delay"]))
        known -= parse_duration(str(settings.get("cloudtrail_delivery_delay", "0m")))
        open_bucket = (window.end, known)
    else:
        open_bucket = None
    if not window.chunks:
        _score_open_bucket(con, job, request, processor, open_bucket)
        return summary
    task = _progress_task(bar, job, window)
    chunks = window.chunks if processor.zero_fills else occupied(con, request, window)
    policy = commit_policy or CommitPolicy.from_settings(settings, commit_interval)
    try:
        # Each bucket's rows are written once, after what is stored when nothing is stored
        # from window.begin on (the appending check is made once, not per table and flush).
        with appending(con, job.job_id, window.begin):
            for chunk_start, chunk_end in paced_chunks(chunks, policy):
                if stopped is not None and stopped():
                    raise RunStopped(job.job_id)
                _run_chunk(con, job, request, processor, chunk_start, chunk_end, summary, features)
                if task is not None:
                    bar.update(task, completed=(chunk_end - window.begin) / job.bucket_span)
        if summary.end is None or summary.end < window.end:
            _save_progress(con, job, processor.models, window.end)
            summary.end = window.end
        _score_open_bucket(con, job, request, processor, open_bucket)
    finally:
        if task is not None:
            bar.remove_task(task)
    summary.status = "ran"
    summary.models = sum(d.model_count for d in models.detectors)
    summary.memory_bytes = estimate_memory(models)
    summary.seconds = time.perf_counter() - clock
    summary.thread_cpu_seconds = time.thread_time() - thread_clock
    return summary


def _score_open_bucket(
    con: duckdb.DuckDBPyConnection,
    job: JobConfig,
    request: FeatureRequest,
    processor: BucketProcessor,
    open_bucket: tuple[datetime, datetime] | None,
) -> None:
    """Early results of the bucket not final yet, from the data known to be complete; the
    models learn nothing, so the bucket is processed normally once it is final."""
    step = processor.early_step
    if step is None or open_bucket is None:
        return
    start, known = open_bucket
    if known <= start:
        return
    early = early_inputs(con, job, request, start, start + job.bucket_span, step, until=known)
    if start not in early:
        return
    features = compute_features(con, request, start, known)
    rows = processor.group(features, processor.rare_detectors).get(start, {})
    con.execute("BEGIN TRANSACTION")
    try:
        processor.score_open(start, rows, early[start])
        processor.flush()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _save_progress(
    con: duckdb.DuckDBPyConnection, job: JobConfig, models: JobModels, until: datetime
) -> None:
    """Record that every bucket before ``until`` is final (the models are unchanged)."""
    blob = dump_state(models)
    save_job_state(con, job.job_id, job.model_revision, until, blob, len(blob))


def _run_chunk(
    con: duckdb.DuckDBPyConnection,
    job: JobConfig,
    request: FeatureRequest,
    processor: BucketProcessor,
    chunk_start: datetime,
    chunk_end: datetime,
    summary: JobRunSummary,
    features_of: FeatureFn = compute_features,
) -> None:
    """Process one chunk of buckets in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        span = (con, request, chunk_start, chunk_end)
        args = (con, job, request, processor, chunk_start, chunk_end)
        if _queries_per_bucket(job, processor):
            # One read of the chunk's events for its queries, the event counts among them: the
            # spike job 2.4 -> 1.8 CPU s over 21 days (2M events), then 0.2 s less for counts.
            with chunk_events(*span, processor.influencer_fields):
                _process_chunk(*args, bucket_event_counts(*span), features_of)
        elif features_of is compute_features:
            # A rare job's event counts come with its features: one read of the events fewer.
            features, counts = features_and_counts(*span)
            _process_chunk(*args, counts, features_of, features)
        else:
            _process_chunk(*args, bucket_event_counts(*span), features_of)
        blob = dump_state(processor.models)
        save_job_state(con, job.job_id, job.model_revision, chunk_end, blob, len(blob))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    stats = processor.take_stats()
    summary.end = chunk_end
    summary.buckets += stats["buckets"]
    summary.events += stats["events"]
    summary.records += stats["records"]
    summary.renormalizations += stats["renormalizations"]
    summary.pruned += stats["pruned"]
    summary.max_record_score = max(summary.max_record_score, stats["max_score"])
    if stats["memory_status"] != "ok":
        summary.memory_status = stats["memory_status"]


def _queries_per_bucket(job: JobConfig, processor: BucketProcessor) -> bool:
    """Whether the job queries events per anomalous bucket or per early cut-off (any function
    but ``rare``: influencer experiments on the bucket's rows, partial buckets). A rare job
    reads a chunk's events two or three times (features, the flush's evidence), which copying
    them first does not beat: the city and country jobs took 0.1-0.2 CPU s longer with it.
    """
    return len(processor.rare_detectors) < len(job.analysis_config.detectors)


def _process_chunk(
    con: duckdb.DuckDBPyConnection,
    job: JobConfig,
    request: FeatureRequest,
    processor: BucketProcessor,
    chunk_start: datetime,
    chunk_end: datetime,
    counts: dict[datetime, int],
    features_of: FeatureFn,
    features: pa.Table | None = None,
) -> None:
    """Features (unless given), early inputs and every bucket of one chunk, then the flush of
    its results."""
    if features is None:
        features = features_of(con, request, chunk_start, chunk_end)
    by_bucket = processor.group(features, processor.rare_detectors)
    step = processor.early_step
    # Rare categories' first events are looked up at flush, for the anomalous ones only.
    early = (
        early_inputs(con, job, request, chunk_start, chunk_end, step, rare=False) if step else {}
    )
    t = chunk_start
    while t < chunk_end:
        if processor.zero_fills or t in counts:
            processor.process(t, by_bucket.get(t, {}), counts.get(t, 0), early.get(t))
        t += job.bucket_span
    processor.flush()


def _renormalization_window(job: JobConfig, settings: Mapping[str, Any]) -> timedelta:
    if job.renormalization_window_days:
        return timedelta(days=job.renormalization_window_days)
    return max(parse_duration(str(settings["renormalization_window"])), 100 * job.bucket_span)


def _progress_task(bar: Any, job: JobConfig, window: Window) -> Any:
    if bar is None:
        return None
    return bar.add_task(job.job_id, total=(window.end - window.begin) / job.bucket_span)


@contextmanager
def _shared_progress(show: bool) -> Iterator[Any]:
    """One rich progress display for the run, a bar per running job (rich allows one live
    display at a time, and jobs may run in several threads)."""
    if not show:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        yield bar


def run_jobs(
    con: duckdb.DuckDBPyConnection,
    job_ids: Sequence[str] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = False,
    jobs: JobCollection | None = None,
    commit_interval: timedelta = DEFAULT_COMMIT_INTERVAL,
    keep_going: bool = True,
    features: FeatureFn = compute_features,
    commit_policy: CommitPolicy | None = None,
) -> list[JobRunSummary]:
    """Run jobs over the stored events and store their results.

    Parameters
    ----------
    con
        An open, migrated store.
    job_ids
        Which jobs to run (default: all of ``jobs``).
    start, end
        Process buckets from ``start`` (jobs that already ran resume where they stopped; an
        earlier ``start`` is ignored) up to ``end`` (replays of history). Without ``end``, up to
        the last bucket that is final.
    now
        The current time (naive UTC) for the ``query_delay`` rule; default the clock.
    settings
        Resolved settings (``query_delay``, ``renormalization_window``); default
        :func:`~trailspike.core.settings.load_settings`.
    progress
        Show a rich progress bar per running job.
    jobs
        The job definitions (default: the shipped ones).
    commit_interval
        Event time of a run's first transaction, and the unit later ones grow by.
    commit_policy
        How transactions grow while catching up on history (see
        :mod:`trailspike.jobs.chunking`); default from ``commit_interval`` and the settings
        ``history_commit_max`` and ``history_commit_seconds``. Given, it replaces
        ``commit_interval``.
    features
        Where feature rows come from: DuckDB over the store (default), or e.g.
        :class:`~trailspike.features.source.SparkFeatures`.
    keep_going
        When a job cannot run (its definition changed since its models were built, its state
        cannot be read), record that in its summary (``status="error"``) and run the others;
        ``False`` raises instead.

    Returns
    -------
    list[JobRunSummary]
        One summary per job, in the order of ``job_ids``. With the ``job_threads`` setting
        above 1 (default 2) and the DuckDB engine, that many jobs run at once, each in its own
        thread and transactions, the costliest first (:mod:`trailspike.jobs.parallel`): same
        rows and model states, interleaved in the tables' physical order.
    """
    collection = jobs if jobs is not None else load_jobs()
    settings = load_settings() if settings is None else settings
    ids = list(job_ids) if job_ids else collection.ids()
    selected = [collection.get(job_id) for job_id in ids]
    # The cyclic collector walked every live object thousands of times per run (jobs/gc_pause).
    with batched_checkpoints(con), gc_paused(), _shared_progress(progress) as bar:
        return _run_selected(
            con,
            selected,
            start=start,
            end=end,
            now=now,
            settings=settings,
            bar=bar,
            commit_interval=commit_interval,
            keep_going=keep_going,
            features=features,
            commit_policy=commit_policy,
        )


def _run_selected(
    con: duckdb.DuckDBPyConnection,
    selected: list[JobConfig],
    *,
    settings: Mapping[str, Any],
    keep_going: bool,
    features: FeatureFn,
    bar: Any,
    **options: Any,
) -> list[JobRunSummary]:
    """Run the jobs, several at once when the ``job_threads`` setting allows it (with the
    DuckDB engine only: another engine's thread safety is its own; :mod:`.parallel`)."""

    def run_one(
        connection: duckdb.DuckDBPyConnection, job: JobConfig, stopped: Stopped | None = None
    ) -> JobRunSummary:
        try:
            return run_job(
                connection,
                job,
                settings=settings,
                features=features,
                bar=bar,
                stopped=stopped,
                **options,
            )
        except TrailspikeError as exc:
            if not keep_going:
                raise
            # One job that cannot run (a changed definition, unreadable state) must not stop
            # the others, e.g. in the service; its summary carries the reason.
            return JobRunSummary(job.job_id, "error", error=str(exc))

    threads = usable_threads(int(settings.get("job_threads", 1)))
    if threads > 1 and len(selected) > 1 and features is compute_features:
        return run_in_threads(con, selected, run_one, threads)
    return [run_one(con, job) for job in selected]
