"""Generate the demo world: CloudTrail files, ``scenarios.json`` labels and ``world.json``.

:func:`generate_world` is what ``trailspike demo generate`` and ``trailspike demo`` call. The
output folder holds ``AWSLogs/...`` (the trail as S3 delivers it), ``scenarios.json`` (the five
labelled scenarios) and ``world.json`` (the parameters and counts, written last, so its presence
means the world is complete). :func:`existing_world` lets a rerun skip generation when the folder
already holds a complete world with the same parameters.

Implementation decisions: ``numpy.random.Generator`` streams seeded from ``seed`` (one for normal
life, one for the scenarios, so scenarios do not change with ``scale``) drive everything in a
fixed order, so the same seed gives byte-identical files. The default start is a fixed
Monday (2026-11-16) rather than "three weeks ago", for the same reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from trailspike.core.errors import ConfigError
from trailspike.demo.attacks import generate_scenarios
from trailspike.demo.cast import build_cast
from trailspike.demo.events import EventBuffer
from trailspike.demo.life import Span, generate_life
from trailspike.demo.world import ACCOUNTS
from trailspike.demo.writer import write_world

GENERATOR_VERSION = 4  # 4: the ETL job starts a worker; scenario 4 retries it denied
DEFAULT_START = "2026-11-16"
DEFAULT_DAYS = 21
DEFAULT_SEED = 7


@dataclass(frozen=True)
class WorldParams:
    """What determines a world: same parameters, same bytes."""

    seed: int = DEFAULT_SEED
    start: str = DEFAULT_START
    days: int = DEFAULT_DAYS
    file_minutes: int = 60
    scale: float = 1.0
    version: int = GENERATOR_VERSION


def _span(params: WorldParams) -> Span:
    try:
        day = datetime.strptime(params.start, "%Y-%m-%d")
    except ValueError as exc:
        raise ConfigError(f"world start {params.start!r} is not a date (YYYY-MM-DD)") from exc
    if day.weekday() != 0:
        raise ConfigError(
            f"world start {params.start} must be a Monday (weekly cycles start there)"
        )
    if not 1 <= params.days <= 120:
        raise ConfigError(f"world length {params.days} days must be between 1 and 120")
    if not 0.05 <= params.scale <= 4:
        raise ConfigError(f"scale {params.scale} must be between 0.05 and 4")
    if params.file_minutes not in (5, 10, 15, 30, 60):
        raise ConfigError("file_minutes must be one of 5, 10, 15, 30, 60")
    epoch = int((day - datetime(1970, 1, 1)).total_seconds())
    return Span(epoch, params.days, params.scale)


def existing_world(out_dir: Path, params: WorldParams) -> dict[str, Any] | None:
    """The ``world.json`` of a complete world in ``out_dir`` made with ``params``, else None."""
    path = out_dir / "world.json"
    if not path.exists():
        return None
    try:
        info: dict[str, Any] = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return None
    return info if info.get("params") == asdict(params) else None


def generate_world(
    out_dir: Path,
    params: WorldParams = WorldParams(),
    *,
    on_file: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Generate the world into ``out_dir`` (replacing an earlier ``AWSLogs``); return world info.

    ``on_total`` is told the number of events once they are drawn, ``on_file`` the number of
    records of each file written (progress bars hook in there).

    Examples
    --------
    >>> import tempfile
    >>> info = generate_world(Path(tempfile.mkdtemp()), WorldParams(days=1))
    >>> info["events"] > 1000 and info["files"] > 3
    True
    """
    span = _span(params)
    rng = np.random.default_rng(params.seed)
    buf = EventBuffer(build_cast(params.seed), rng)
    generate_life(buf, span, rng)
    # Scenarios draw from their own stream, so they do not change with the volume of life.
    scenarios = generate_scenarios(buf, span, np.random.default_rng([params.seed, 5]))
    cols = buf.finish()
    if on_total is not None:
        on_total(len(cols))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "world.json").unlink(missing_ok=True)
    shutil.rmtree(out_dir / "AWSLogs", ignore_errors=True)
    stats = write_world(cols, buf, out_dir, params.seed, params.file_minutes, on_file)
    world = {
        "start": str(np.datetime64(span.start, "s")),
        "end": str(np.datetime64(span.end, "s")),
        "accounts": {a.id: a.alias for a in ACCOUNTS},
    }
    (out_dir / "scenarios.json").write_bytes(
        orjson.dumps({"world": world, "scenarios": scenarios}, option=orjson.OPT_INDENT_2)
    )
    info = {
        "params": asdict(params),
        **world,
        "events": stats.records,
        "files": stats.files,
        "raw_bytes": stats.raw_bytes,
        "gz_bytes": stats.gz_bytes,
    }
    (out_dir / "world.json").write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    return info


def load_scenarios(world_dir: Path) -> dict[str, Any]:
    """Read ``scenarios.json`` of a generated world (``{"world": ..., "scenarios": [...]}``)."""
    path = world_dir / "scenarios.json"
    if not path.exists():
        raise ConfigError(f"{path} not found: generate the world first (trailspike demo generate)")
    try:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data.get("scenarios"), list) or "world" not in data:
        raise ConfigError(f"{path}: expected an object with 'world' and 'scenarios'")
    return data
