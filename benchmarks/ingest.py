"""Ingest benchmark: events/s, the ratio to ``zcat FILES | wc -c``, and peak RSS.

Generates a corpus of CloudTrail S3 delivery files (``.json.gz``, ~1.5 KB per record, 5 % errors,
a few thousand source addresses and a few dozen user agents) or takes a folder, then times

* ``zcat FILES | wc -c`` on the same files (the floor: just decompressing), and
* ``trailspike ingest FOLDER --db fresh.duckdb`` in a child process (parse, validate, normalise,
  GeoIP, store),

and prints events/s, the ratio of the two wall times, CPU seconds (all processes), the load
average, and peak RSS per process (its VmHWM, sampled from /proc), their sum and the largest
sampled simultaneous total. Speed goals live here, never in tests.

Usage::

    python benchmarks/ingest.py --events 1000000            # generate into /tmp, then measure
    python benchmarks/ingest.py --corpus ~/AWSLogs          # measure an existing folder
    python benchmarks/ingest.py --events 10000000 --keep    # keep the corpus for reruns
    python benchmarks/ingest.py --corpus DIR -- --setting ingest_fast_path false
    python benchmarks/ingest.py --corpus DIR --stages 10    # and the CPU of each stage
    python benchmarks/ingest.py --corpus DIR --store 10     # and of the store loop alone
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

ACTIONS = [
    ("s3.amazonaws.com", "GetObject", {"bucketName": "logs-{n}", "key": "data/{n}.parquet"}),
    ("s3.amazonaws.com", "PutObject", {"bucketName": "uploads-{n}", "key": "in/{n}.csv"}),
    (
        "ec2.amazonaws.com",
        "DescribeInstances",
        {"instancesSet": {"items": [{"instanceId": "i-{n}"}]}},
    ),
    ("ec2.amazonaws.com", "RunInstances", {"instanceType": "m5.large", "minCount": 1}),
    ("iam.amazonaws.com", "GetUser", {"userName": "user{n}"}),
    ("iam.amazonaws.com", "CreateAccessKey", {"userName": "user{n}"}),
    (
        "sts.amazonaws.com",
        "AssumeRole",
        {"roleArn": "arn:aws:iam::123456789012:role/r{n}", "roleSessionName": "s{n}"},
    ),
    ("kms.amazonaws.com", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
    ("lambda.amazonaws.com", "Invoke", {"functionName": "fn-{n}"}),
    ("logs.amazonaws.com", "PutLogEvents", {"logGroupName": "/aws/lambda/fn-{n}"}),
]
ERRORS = [
    ("AccessDenied", "User: arn:aws:iam::123456789012:user/user{n} is not authorized to perform"),
    ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."),
    ("NoSuchBucket", "The specified bucket does not exist"),
    ("ThrottlingException", "Rate exceeded"),
]
# A corpus has few distinct source addresses: 3,000 here, from public ranges.
_POOL = random.Random(99)
ADDRESSES = [
    f"{_POOL.choice([52, 54, 3, 18, 89, 81, 216])}.{_POOL.randint(0, 255)}."
    f"{_POOL.randint(0, 255)}.{_POOL.randint(1, 254)}"
    for _ in range(3000)
]
AGENTS = [
    "aws-cli/2.15.{n} Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.cp",
    "Boto3/1.34.{n} md/Botocore#1.34.{n} ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.6",
    "aws-sdk-go-v2/1.24.{n} os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.47.{n}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.{n}.0 Safari/537.36",
    "console.amazonaws.com",
    "AWS Internal",
]


def make_record(rng: random.Random, when: datetime, serial: int) -> dict:
    source, name, params = rng.choice(ACTIONS)
    n = rng.randint(1, 400)
    user = f"user{rng.randint(1, 300)}"
    role = rng.random() < 0.4
    identity: dict = {
        "type": "AssumedRole" if role else "IAMUser",
        "principalId": f"AIDA{serial % 9973:016d}",
        "arn": f"arn:aws:sts::123456789012:assumed-role/role{n % 20}/{user}"
        if role
        else f"arn:aws:iam::123456789012:user/{user}",
        "accountId": "123456789012",
        "accessKeyId": f"AKIA{n:016d}",
        "sessionContext": {
            "attributes": {
                "creationDate": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mfaAuthenticated": "false",
            },
        },
    }
    if role:
        identity["sessionContext"]["sessionIssuer"] = {
            "type": "Role",
            "principalId": f"AROA{n:016d}",
            "userName": f"role{n % 20}",
            "arn": f"arn:aws:iam::123456789012:role/role{n % 20}",
            "accountId": "123456789012",
        }
    else:
        identity["userName"] = user
    address = rng.choice(ADDRESSES) if rng.random() < 0.85 else source
    record = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"]),
        "sourceIPAddress": address,
        "userAgent": rng.choice(AGENTS).format(n=n % 30),
        "requestParameters": orjson.loads(orjson.dumps(params).decode().replace("{n}", str(n))),
        "responseElements": None,
        "requestID": f"{serial:08x}-1c2d-4e5f-8a9b-{rng.getrandbits(48):012x}",
        "eventID": f"{serial:08x}-aaaa-4bbb-8ccc-{rng.getrandbits(48):012x}",
        "readOnly": name.startswith(("Get", "Describe")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.us-east-1.amazonaws.com",
        },
    }
    if rng.random() < 0.05:
        code, message = rng.choice(ERRORS)
        record["errorCode"] = code
        record["errorMessage"] = message.format(n=n)
    return record


def generate(folder: Path, events: int, files: int, seed: int = 1) -> list[Path]:
    """Write ``events`` records spread over ``files`` S3-style gzip files; returns the paths."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1)
    span = timedelta(days=14)
    per_file = max(1, events // files)
    paths = []
    serial = 0
    for index in range(files):
        count = per_file if index < files - 1 else events - serial
        first = start + span * index / files
        records = []
        for _ in range(count):
            when = first + timedelta(seconds=rng.random() * span.total_seconds() / files)
            records.append(make_record(rng, when, serial))
            serial += 1
        name = f"123456789012_CloudTrail_us-east-1_{first:%Y%m%dT%H%MZ}_{index:05d}.json.gz"
        path = folder / name
        path.write_bytes(gzip.compress(orjson.dumps({"Records": records}), compresslevel=6))
        paths.append(path)
    return paths


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_zcat(paths: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    out = subprocess.run(
        f"zcat {' '.join(str(p) for p in paths)} | wc -c",
        shell=True,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, int(out.stdout.strip())


def _pss(pid: int) -> tuple[int, int]:
    """Proportional set size of ``pid`` in bytes, and its anonymous part (0 if unreadable)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Pss", "Pss_Anon"):
            values[name] = int(rest.split()[0]) * 1024
    return values.get("Pss", 0), values.get("Pss_Anon", 0)


def _spool_bytes(pid: int) -> int:
    """Bytes in the spool files of ingest process ``pid`` that still have a name (not mapped)."""
    from trailspike.ingest.spool import spool_root

    total = 0
    for folder in Path(spool_root()).glob(f"trailspike-ingest-{pid}-*"):
        try:
            files = list(folder.iterdir())
        except OSError:
            continue
        for path in files:
            with contextlib.suppress(OSError):  # mapped and removed meanwhile
                total += path.stat().st_size
    return total


class TreeMonitor:
    """Samples a process and its descendants from /proc: peak RSS and CPU of each process.

    ``getrusage`` only gives the largest child's peak; the ingest runs a main process and worker
    processes, so the 1 GB budget needs the sum. Sampled every 0.1 s: a peak shorter than that
    can be missed, so each process's own high-water mark (VmHWM) is read as well.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak: dict[int, int] = {}  # pid -> VmHWM bytes
        self.names: dict[int, str] = {}
        self.cpu: dict[int, float] = {}  # pid -> user+system seconds, last seen
        self.pss: dict[int, int] = {}  # pid -> largest sampled PSS bytes
        self.total_peak = 0  # largest simultaneous sum of RSS
        # Largest simultaneous sum of PSS: a page shared by several processes (libraries, what
        # a worker inherited by fork) counts once in total, so this is the machine's real cost.
        self.total_pss_peak = 0
        self.at_pss_peak: dict[int, tuple[int, int]] = {}  # pid -> (PSS, anonymous PSS) then
        # Spool files the workers wrote and the ingest has not mapped yet (ingest/spool.py): tmpfs
        # pages in no process's PSS, so they are added to the total separately.
        self.spool_peak = 0
        self.total_with_spool_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> TreeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _children(self) -> dict[int, int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return {pid: parents.get(pid, 0) for pid in tree}

    def _sample(self) -> None:
        total = pss_total = 0
        snapshot: dict[int, tuple[int, int]] = {}
        for pid in self._children():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if "VmHWM" not in fields:
                continue
            if pid not in self.names:
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    command = b""
                self.names[pid] = command.decode(errors="replace").strip()[-60:]
            rss = int(fields["VmRSS"].split()[0]) * 1024
            self.peak[pid] = max(self.peak.get(pid, 0), int(fields["VmHWM"].split()[0]) * 1024)
            self.cpu[pid] = (int(stat[11]) + int(stat[12])) / self._tick
            pss, anon = _pss(pid)
            snapshot[pid] = (pss, anon)
            self.pss[pid] = max(self.pss.get(pid, 0), pss)
            total += rss
            pss_total += pss
        self.total_peak = max(self.total_peak, total)
        spool = _spool_bytes(self.root)
        self.spool_peak = max(self.spool_peak, spool)
        self.total_with_spool_peak = max(self.total_with_spool_peak, pss_total + spool)
        if pss_total > self.total_pss_peak:
            self.total_pss_peak = pss_total
            self.at_pss_peak = snapshot

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()


def time_ingest(folder: Path, db: Path, extra: list[str]) -> tuple[float, str, TreeMonitor]:
    exe = Path(sys.executable).with_name("trailspike")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "ingest", str(folder), "--db", str(db), "--no-progress", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeMonitor(proc.pid) as monitor:
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"ingest failed ({proc.returncode}):\n{stdout}\n{stderr}")
    return time.perf_counter() - started, stdout.strip().splitlines()[-1], monitor


def stage_costs(paths: list[Path]) -> None:
    """CPU per event of each ingest stage, in this process, GC paused (both normalising paths).

    The stages timed per record (validate, document, encode, append) each include a pair of
    ``time.process_time`` calls, ~1.3 µs on this machine (measured December 2026: ``check_record``
    alone takes 2.2 µs per benchmark record, the stage shows 3.7); the per-file stages do not.
    The store stage is not included (see ``store/events.py``; it runs in the main process).
    """
    import gc
    import pickle
    import zlib

    from trailspike.ingest.normalizer import Context, synthetic_event_id
    from trailspike.ingest.reader import s3_records
    from trailspike.ingest.spool import make_spool_dir, read_table, write_table
    from trailspike.ingest.validate import check_record
    from trailspike.normalise.cloudtrail import to_ecs
    from trailspike.normalise.fast import fast_event
    from trailspike.store.events import ColumnBatch, EventBatch, event_row

    ctx = Context.from_settings({}, datetime(2026, 12, 1))
    costs: dict[str, float] = {}
    spool = make_spool_dir()

    def tick(name: str, started: float) -> float:
        now = time.process_time()
        costs[name] = costs.get(name, 0.0) + now - started
        return now

    gc.disable()
    events = 0
    for _ in range(2):  # the first pass fills the GeoIP and user-agent caches
        costs.clear()
        events = 0
        for path in paths:
            t = time.process_time()
            data = zlib.decompressobj(31).decompress(path.read_bytes())
            t = tick("gunzip", t)
            records = list(s3_records(data.strip()) or [])
            t = tick("JSON decode, record by record", t)
            fast, reference = ColumnBatch(str(path), ctx.now), EventBatch()
            for index, record in enumerate(records):
                t = time.process_time()
                check_record(record)
                tick("validate", t)
                # Alternate which path meets the record first: the first one also pays for
                # bringing the record into the CPU caches.
                for fast_turn in (True, False) if index % 2 else (False, True):
                    t = time.process_time()
                    if fast_turn:
                        doc, row = fast_event(record, ctx.geo, synthetic_event_id)
                        t = tick("fast: document + columns", t)
                        encoded = orjson.dumps(doc)
                        t = tick("document encode", t)
                        fast.add(row, encoded)
                        tick("fast: append", t)
                    else:
                        ref_doc = to_ecs(record, ctx.geo)
                        t = tick("reference: to_ecs", t)
                        ref_row = event_row(ref_doc)
                        t = tick("reference: event_row", t)
                        text = orjson.dumps(ref_doc).decode()
                        t = tick("reference: document encode", t)
                        reference.rows.append((*ref_row, text, str(path), ctx.now))
                        tick("reference: append", t)
            t = time.process_time()
            table = fast.to_arrow()
            t = tick("fast: Arrow table", t)
            reference.to_arrow()
            t = tick("reference: Arrow table", t)
            blob = pickle.dumps(table)
            t = tick("IPC before session 4: pickle", t)
            pickle.loads(blob)
            t = tick("IPC before session 4: unpickle", t)
            spooled = write_table(spool, table)
            t = tick("IPC: spool file (worker)", t)
            read_table(spooled)
            tick("IPC: map spool file (main)", t)
            events += len(records)
    gc.enable()
    shutil.rmtree(spool, ignore_errors=True)
    print(f"stage costs over {events:,} events (load {os.getloadavg()[0]:.1f}):")
    for name, seconds in costs.items():
        print(f"    {name:34s} {seconds / events * 1e6:6.2f} µs/event")


def _not_opened():
    raise AssertionError("the store loop reads no file")


def store_costs(paths: list[Path], work: Path) -> None:
    """CPU per row of the ingesting process's store loop alone, on tables normalised beforehand.

    Runs the pipeline's own ``_Run`` (inserts as rows arrive, commits on row-group boundaries,
    the final ``CHECKPOINT``) into a fresh store and splits the time into the duplicate search,
    the inserts and the commits. Used in session 5 to try DuckDB settings (docs/ingest.md).
    """
    from trailspike.ingest import pipeline
    from trailspike.ingest.normalizer import Chunk, Context, process_stream
    from trailspike.ingest.sources import SourceFile
    from trailspike.store.db import bound_for_bulk_load, open_store

    ctx = Context.from_settings({}, datetime(2026, 12, 1))
    chunks: list[Chunk] = []
    for path in paths:
        with path.open("rb") as stream:
            chunks.extend(c for c in process_stream(stream, str(path), ctx) if c.table)
    spent = {"duplicate search": 0.0, "insert": 0.0, "commit": 0.0}

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - started

        return wrapper

    originals = (pipeline.new_rows, pipeline.insert_events, pipeline._Run._commit)
    pipeline.new_rows = timed("duplicate search", pipeline.new_rows)
    pipeline.insert_events = timed("insert", pipeline.insert_events)
    pipeline._Run._commit = timed("commit", pipeline._Run._commit)
    con = open_store(work / "store-only.duckdb")
    try:
        run = pipeline._Run(con, ctx, {})
        bound_for_bulk_load(con, pipeline.INGEST_MEMORY_LIMIT)
        started = time.process_time()
        for chunk in chunks:
            if chunk.path not in run.files:
                run.files[chunk.path] = pipeline._FileStats(
                    SourceFile(chunk.path, None, None, _not_opened)
                )
            run.add_chunk(chunk, last=False)
        for stats in run.files.values():
            stats.done = True
        run.flush(final=True)
        con.execute("CHECKPOINT")
        total = time.process_time() - started
    finally:
        con.close()
        pipeline.new_rows, pipeline.insert_events, pipeline._Run._commit = originals
    rows = sum(c.table.num_rows for c in chunks if c.table is not None)
    print(
        f"store loop over {rows:,} rows (load {os.getloadavg()[0]:.1f}): "
        f"{total / rows * 1e6:.1f} µs/row, of which "
        + ", ".join(f"{name} {value / rows * 1e6:.1f}" for name, value in spent.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to generate")
    parser.add_argument("--files", type=int, default=0, help="files (default: events / 10,000)")
    parser.add_argument("--corpus", type=Path, help="existing folder instead of generating")
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus")
    parser.add_argument(
        "--stages", type=int, default=0, metavar="N", help="also time each stage on N files"
    )
    parser.add_argument(
        "--store", type=int, default=0, metavar="N", help="also time the store loop on N files"
    )
    parser.add_argument("ingest_args", nargs="*", help="extra `trailspike ingest` arguments")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trailspike-bench-"))
    try:
        if args.corpus:
            folder = args.corpus
            paths = sorted(p for p in folder.rglob("*.gz"))
        else:
            folder = work / "corpus"
            files = args.files or max(1, args.events // 10_000)
            started = time.perf_counter()
            paths = generate(folder, args.events, files)
            print(
                f"generated {args.events:,} events in {files} files in "
                f"{time.perf_counter() - started:.1f} s"
            )
        size = sum(p.stat().st_size for p in paths)
        if args.stages:
            stage_costs(paths[: args.stages])
        if args.store:
            store_costs(paths[: args.store], work)
        cpu0 = children_cpu()
        zcat_s, raw_bytes = time_zcat(paths)
        zcat_cpu = children_cpu() - cpu0
        print(
            f"corpus: {len(paths)} files, {size / 1e6:,.0f} MB gzipped, "
            f"{raw_bytes / 1e6:,.0f} MB of JSON"
        )
        print(f"zcat | wc -c: {zcat_s:.1f} s wall, {zcat_cpu:.1f} s CPU")
        load = os.getloadavg()
        ingest_s, line, monitor = time_ingest(folder, work / "bench.duckdb", args.ingest_args)
        # Summed over the sampled processes: workers forked by a fork server are not this
        # process's children, so getrusage(RUSAGE_CHILDREN) would miss them.
        ingest_cpu = sum(monitor.cpu.values())
        events = int(line.split(" events read")[0].split()[-1].replace(",", ""))
        print(
            f"ingest: {ingest_s:.1f} s, {events / ingest_s:,.0f} events/s, "
            f"{ingest_s / zcat_s:.2f}x zcat time"
        )
        print(f"        ({line})")
        # CPU seconds do not depend on what else the machine runs; on an idle machine with
        # N cores the wall time of the parallel ingest approaches CPU / N.
        print(
            f"CPU: ingest {ingest_cpu:.1f} s ({ingest_cpu / events * 1e6:.0f} µs/event), "
            f"{ingest_cpu / zcat_cpu:.1f}x zcat's CPU; load average before "
            f"{load[0]:.1f}, after {os.getloadavg()[0]:.1f} (1 min)"
        )
        peaks = sorted(monitor.peak.items(), key=lambda item: -item[1])
        print(
            f"peak RSS: largest process {peaks[0][1] / 2**20:,.0f} MB, sum of the processes' "
            f"peaks {sum(p for _, p in peaks) / 2**20:,.0f} MB, largest sampled total "
            f"{monitor.total_peak / 2**20:,.0f} MB; largest sampled total PSS (shared pages "
            f"counted once) {monitor.total_pss_peak / 2**20:,.0f} MB"
        )
        print(
            f"spool files not yet mapped (tmpfs, in no process's PSS): peak "
            f"{monitor.spool_peak / 2**20:,.0f} MB; largest sampled total PSS + those "
            f"{monitor.total_with_spool_peak / 2**20:,.0f} MB"
        )
        for pid, peak in peaks:
            if peak > 20 * 2**20:  # not the shell wrappers
                print(
                    f"    pid {pid} ({monitor.names[pid][-40:]}): peak RSS {peak / 2**20:,.0f} MB, "
                    f"peak PSS {monitor.pss.get(pid, 0) / 2**20:,.0f} MB, at the total's peak "
                    f"{monitor.at_pss_peak.get(pid, (0, 0))[0] / 2**20:,.0f} MB "
                    f"({monitor.at_pss_peak.get(pid, (0, 0))[1] / 2**20:,.0f} anonymous), "
                    f"CPU {monitor.cpu.get(pid, 0):.1f} s (last sample)"
                )
        db_size = (work / "bench.duckdb").stat().st_size
        print(f"store: {db_size / 1e6:,.0f} MB")
    finally:
        if args.keep and not args.corpus:
            print(f"corpus kept in {work / 'corpus'}")
            (work / "bench.duckdb").unlink(missing_ok=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    os.sync()


if __name__ == "__main__":
    main()
