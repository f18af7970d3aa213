"""Investigation steps about who acted: source addresses, hours, human or automation, cadence.

Implementation decisions: "the principal's usual" is measured over the 30 days before the
anomaly's bucket (the bucket itself excluded, so the anomaly cannot make itself look normal).
Hours are UTC hours of day; a person's working day in any time zone shows up as a band of them.
A user agent is classified by well-known product tokens (AWS CLI, SDKs, console, Terraform, CI
systems) because CloudTrail keeps the caller's own string and nothing more about the client.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from trailspike.triage.awsip import load_aws_ranges
from trailspike.triage.cadence import classify_day_counts
from trailspike.triage.context import PRINCIPAL_CLAUSE, AlertContext, Query, run_query
from trailspike.triage.results import Signal, StepResult
from trailspike.triage.vocabulary import HISTORY_DAYS

UNUSUAL_HOUR_SHARE = 0.02  # below 2 % of the principal's calls in that hour (±1 h) is unusual
MIN_HISTORY = 30  # calls needed before "usual" means anything
ROUND_THE_CLOCK_HOURS = 18  # active in this many hours of day → a program
CADENCE_DAYS = 100  # long enough to see three monthly runs
MAX_COMMANDS = 15

AgentKind = Literal["console", "cli", "sdk", "iac", "ci", "aws-service", "other", "none"]
_AGENT_TOKENS: tuple[tuple[str, AgentKind], ...] = (
    ("github", "ci"),
    ("gitlab", "ci"),
    ("jenkins", "ci"),
    ("circleci", "ci"),
    ("codebuild", "ci"),
    ("buildkite", "ci"),
    ("terraform", "iac"),
    ("pulumi", "iac"),
    ("cloudformation", "iac"),
    ("aws-cdk", "iac"),
    ("console.amazonaws.com", "console"),
    ("signin.amazonaws.com", "console"),
    ("aws internal", "console"),
    ("mozilla/", "console"),
    ("aws-cli/", "cli"),
    ("aws-powershell", "cli"),
    ("awspowershell", "cli"),
    ("boto3/", "sdk"),
    ("botocore/", "sdk"),
    ("aws-sdk-", "sdk"),
    ("aws_sdk", "sdk"),
    (".amazonaws.com", "aws-service"),
)
AUTOMATION_AGENTS = frozenset({"sdk", "iac", "ci", "aws-service"})
HUMAN_AGENTS = frozenset({"console", "cli"})


def classify_user_agent(user_agent: str | None) -> AgentKind:
    """The kind of client behind a CloudTrail ``userAgent`` string.

    >>> classify_user_agent("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exec-env/GitHubActions")
    'ci'
    >>> classify_user_agent("aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0 exe/x86_64")
    'cli'
    >>> classify_user_agent("lambda.amazonaws.com")
    'aws-service'
    """
    if not user_agent:
        return "none"
    text = user_agent.lower()
    for token, kind in _AGENT_TOKENS:
        if token in text:
            return kind
    return "other"


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def _history_start(ctx: AlertContext) -> datetime:
    return ctx.bucket_start - timedelta(days=HISTORY_DAYS)


# --- source addresses ------------------------------------------------------------------------


def source_ips(ctx: AlertContext) -> StepResult:
    """Geolocation, ASN, AWS ownership and prior use by the principal of each source address."""
    question = "Do the source addresses look normal for these principals? Are they AWS's?"
    ranges = load_aws_ranges(str(ctx.settings.get("aws_ip_ranges") or ""))
    who = ctx.principal_params
    ips = list(ctx.source_ips)[:25]
    query = Query(
        "SELECT source_ip, source_geo_country_iso_code AS country, count(*) AS calls, "  # noqa: S608
        "min(ts) AS first_seen FROM events WHERE ts >= ? AND ts < ? "
        f"AND {PRINCIPAL_CLAUSE} GROUP BY ALL",
        (_history_start(ctx), ctx.bucket_start, *who),
    )
    history = run_query(ctx.con, query) if ctx.has_principals else []
    seen_ips = {r["source_ip"]: r for r in history if r["source_ip"]}
    seen_countries = {r["country"] for r in history if r["country"]}
    in_bucket: dict[str, Counter[tuple[Any, ...]]] = {}
    for e in ctx.events:
        if e["source_ip"]:
            in_bucket.setdefault(e["source_ip"], Counter())[
                (
                    e["source_geo_city_name"],
                    e["source_geo_country_iso_code"],
                    e["source_as_number"],
                    e["source_as_organization_name"],
                )
            ] += 1
    rows = []
    for ip in ips:
        geo = in_bucket.get(ip, Counter()).most_common(1)
        city, country, asn, org = geo[0][0] if geo else (None, None, None, None)
        aws = ranges.lookup(ip)
        prior = seen_ips.get(ip)
        rows.append(
            {
                "ip": ip,
                "calls_in_bucket": sum(in_bucket.get(ip, Counter()).values()),
                "city": city,
                "country": country,
                "asn": asn,
                "as_org": org,
                "aws": aws.is_aws,
                "aws_range": f"{aws.service} {aws.region} {aws.cidr}" if aws.is_aws else "",
                "seen_before": prior is not None,
                "first_seen": prior["first_seen"] if prior else None,
                "new_country": bool(country) and country not in seen_countries,
            }
        )
    signal: Signal = "neutral"
    reasons: list[str] = []
    weight = 0
    new_countries = sorted({r["country"] for r in rows if r["new_country"] and not r["aws"]})
    new_ips = [r for r in rows if not r["seen_before"] and not r["aws"]]
    new_aws = [r for r in rows if not r["seen_before"] and r["aws"]]
    if not history:
        finding_tail = (
            "The principals have no calls in the 30 days before, so nothing is usual yet."
        )
    elif new_countries:
        signal, weight = "suspicious", 3
        reasons.append(f"new country ({', '.join(new_countries)})")
        finding_tail = f"New countries for these principals: {', '.join(new_countries)}."
    elif new_ips:
        signal, weight = "suspicious", 1
        reasons.append(f"{len(new_ips)} source IPs not seen before for these principals")
        finding_tail = "Some non-AWS addresses are new for these principals, in known countries."
    elif new_aws:
        finding_tail = (
            f"{len(new_aws)} AWS addresses are new for these principals: check whether they "
            "belong to instances in your accounts."
        )
    elif rows:
        signal, weight = "benign", 1
        reasons.append("source IPs seen before")
        finding_tail = "Every address was used by these principals before."
    else:
        finding_tail = "The calls carry no source IP (AWS services calling on their behalf)."
    finding = (
        f"{len(rows)} source addresses; {sum(1 for r in rows if r['aws'])} are AWS addresses "
        f"(ranges: {ranges.source}); {len(new_ips)} non-AWS addresses were not used by these "
        f"principals in the previous {HISTORY_DAYS} days. {finding_tail}"
    )
    return StepResult(
        "source_ips",
        question,
        finding,
        {
            "aws_ranges_source": ranges.source,
            "countries_seen_before": sorted(seen_countries),
            "rows": rows,
        },
        query.text(),
        signal,
        tuple(reasons),
        weight,
    )


# --- human or automation ---------------------------------------------------------------------


@dataclass(frozen=True)
class ActorProfile:
    """What the principals look like: a person, a program, or both."""

    kind: Literal["human", "automation", "mixed", "unknown"]
    agents: dict[str, int]
    identity_types: dict[str, int]
    history_hours: dict[int, int]
    history_calls: int
    reasons: tuple[str, ...]


def _history_hours(ctx: AlertContext) -> tuple[Query, dict[int, int], dict[str, int]]:
    """Calls per hour of day and per client kind over the 30 days before (read once per alert)."""
    cached = ctx.cache.get("history_hours")
    if cached is None:
        cached = ctx.cache["history_hours"] = _read_history_hours(ctx)
    result: tuple[Query, dict[int, int], dict[str, int]] = cached
    return result


def _read_history_hours(ctx: AlertContext) -> tuple[Query, dict[int, int], dict[str, int]]:
    who = ctx.principal_params
    query = Query(
        "SELECT hour(ts) AS hour, user_agent, count(*) AS calls FROM events "  # noqa: S608
        f"WHERE ts >= ? AND ts < ? AND {PRINCIPAL_CLAUSE} GROUP BY ALL",
        (_history_start(ctx), ctx.bucket_start, *who),
    )
    rows = run_query(ctx.con, query) if ctx.has_principals else []
    hours: Counter[int] = Counter()
    agents: Counter[str] = Counter()
    for r in rows:
        hours[int(r["hour"])] += int(r["calls"])
        agents[classify_user_agent(r["user_agent"])] += int(r["calls"])
    return query, dict(hours), dict(agents)


def profile_actor(ctx: AlertContext) -> tuple[ActorProfile, Query]:
    """Classify the principals as human or automation from agents, identity type and hours."""
    query, hours, _ = _history_hours(ctx)
    agents: Counter[str] = Counter(classify_user_agent(e["user_agent"]) for e in ctx.events)
    types = Counter(str(e["user_identity_type"] or "unknown") for e in ctx.events)
    automation = sum(n for k, n in agents.items() if k in AUTOMATION_AGENTS)
    human = sum(n for k, n in agents.items() if k in HUMAN_AGENTS)
    active_hours = sum(1 for n in hours.values() if n > 0)
    reasons: list[str] = []
    if types.get("AWSService"):
        reasons.append("an AWS service identity")
    if automation:
        top = max((k for k in agents if k in AUTOMATION_AGENTS), key=lambda k: agents[k])
        reasons.append(
            {"ci": "CI user agent", "iac": "infrastructure-as-code user agent"}.get(
                top, f"{top} user agent"
            )
        )
    if human:
        top = max((k for k in agents if k in HUMAN_AGENTS), key=lambda k: agents[k])
        reasons.append(f"{'console' if top == 'console' else 'AWS CLI'} user agent")
    if sum(hours.values()) >= MIN_HISTORY and active_hours >= ROUND_THE_CLOCK_HOURS:
        reasons.append(f"active in {active_hours} of 24 hours of day")
    automation_votes = automation + (
        len(ctx.events) if active_hours >= ROUND_THE_CLOCK_HOURS else 0
    )
    automation_votes += types.get("AWSService", 0)
    kind: Literal["human", "automation", "mixed", "unknown"]
    if not ctx.events:
        kind = "unknown"
    elif automation_votes and not human:
        kind = "automation"
    elif human and not automation_votes:
        kind = "human"
    elif human and automation_votes:
        kind = "mixed"
    else:
        kind = "unknown"
    profile = ActorProfile(
        kind, dict(agents), dict(types), hours, sum(hours.values()), tuple(reasons)
    )
    return profile, query


def actor_type(ctx: AlertContext) -> StepResult:
    """Human or automation: user agents, identity types and how round-the-clock the history is."""
    question = "Is the caller a person or a program?"
    profile, query = profile_actor(ctx)
    _, _, past_agents = _history_hours(ctx)
    new_agents = sorted(k for k in profile.agents if k not in past_agents and k != "none")
    signal: Signal = "neutral"
    reasons: list[str] = []
    weight = 0
    if profile.history_calls >= MIN_HISTORY and new_agents:
        signal, weight = "suspicious", 1
        reasons.append(f"client kind new for these principals ({', '.join(new_agents)})")
    elif profile.kind == "automation" and profile.history_calls >= MIN_HISTORY:
        signal, weight = "benign", 1
        reasons.append(profile.reasons[0] if profile.reasons else "automation")
    finding = (
        f"Looks like {profile.kind}: {', '.join(profile.reasons) or 'no distinguishing sign'}. "
        f"Clients in the bucket: {_counts(profile.agents)}; identity types: "
        f"{_counts(profile.identity_types)}; over the previous {HISTORY_DAYS} days the principals "
        f"made {profile.history_calls} calls from {_counts(past_agents) or 'no'} clients."
    )
    return StepResult(
        "actor_type",
        question,
        finding,
        {
            "kind": profile.kind,
            "agents_in_bucket": profile.agents,
            "identity_types": profile.identity_types,
            "agents_before": past_agents,
            "new_client_kinds": new_agents,
            "user_agents": [
                {"user_agent": ua, "calls": n}
                for ua, n in Counter(e["user_agent"] for e in ctx.events).most_common(10)
            ],
        },
        query.text(),
        signal,
        tuple(reasons),
        weight,
    )


def _counts(counter: dict[Any, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items(), key=lambda kv: -kv[1]))


# --- time of day -----------------------------------------------------------------------------


def time_of_day(ctx: AlertContext) -> StepResult:
    """The hour and weekday of the activity against the principals' usual hours."""
    question = "If a person acted, was it at a normal time of day for them?"
    profile, query = profile_actor(ctx)
    hours = profile.history_hours
    total = sum(hours.values())
    when = ctx.events[0]["ts"] if ctx.events else ctx.bucket_start
    hour = when.hour
    near = sum(hours.get((hour + d) % 24, 0) for d in (-1, 0, 1))
    share = near / total if total else 0.0
    usual = sorted(h for h, n in hours.items() if total and n / total >= UNUSUAL_HOUR_SHARE)
    signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight = 0
    if total < MIN_HISTORY:
        verdict = f"too little history ({total} calls) to know the usual hours"
    elif share < UNUSUAL_HOUR_SHARE:
        verdict = f"unusual: only {share:.1%} of their calls fall within an hour of {hour:02d}:00"
        if profile.kind in ("human", "mixed"):
            signal, weight = "suspicious", 2
            reasons = (f"human activity at an unusual hour ({hour:02d}:00 UTC)",)
    else:
        verdict = f"usual: {share:.0%} of their calls fall within an hour of {hour:02d}:00"
        if profile.kind in ("human", "mixed"):
            signal, weight = "benign", 1
            reasons = ("within the principal's usual hours",)
    finding = (
        f"Activity at {_when(when)} UTC ({when:%A}); {verdict}. Usual UTC hours: "
        f"{_hour_ranges(usual) or '-'}. The caller looks like {profile.kind}"
        + (", so the hour matters." if profile.kind in ("human", "mixed") else ".")
    )
    return StepResult(
        "time_of_day",
        question,
        finding,
        {
            "activity_at": when,
            "hour_utc": hour,
            "share_near_hour": round(share, 4),
            "history_calls": total,
            "usual_hours_utc": _hour_ranges(usual),
            "hours_histogram": [hours.get(h, 0) for h in range(24)],
        },
        query.text(),
        signal,
        reasons,
        weight,
    )


def _hour_ranges(hours: list[int]) -> str:
    """``[8, 9, 10, 14]`` as ``08-10, 14``.

    >>> _hour_ranges([8, 9, 10, 14])
    '08-10, 14'
    """
    parts: list[str] = []
    for h in hours:
        if parts and parts[-1].endswith(f"{h - 1:02d}"):
            parts[-1] = parts[-1].split("-")[0] + f"-{h:02d}"
        else:
            parts.append(f"{h:02d}")
    return ", ".join(parts)


# --- cadence of the commands -----------------------------------------------------------------


def command_cadence(ctx: AlertContext) -> StepResult:
    """Whether each command behind the alert runs on a steady schedule or is new."""
    question = "Are the commands involved steady housekeeping (daily, weekly, monthly) or new?"
    commands = Counter((e["event_provider"], e["event_action"]) for e in ctx.events)
    actions = sorted({str(a) for (_, a), _ in commands.most_common(MAX_COMMANDS) if a})
    who = ctx.principal_params
    start = ctx.bucket_end - timedelta(days=CADENCE_DAYS)
    query = Query(
        "SELECT event_action, CAST(ts AS DATE) AS day, count(*) AS calls, min(ts) AS first_ts "  # noqa: S608
        f"FROM events WHERE ts >= ? AND ts < ? AND list_contains(?, event_action) "
        f"AND {PRINCIPAL_CLAUSE} GROUP BY ALL",
        (start, ctx.bucket_end, actions, *who),
    )
    rows = run_query(ctx.con, query) if actions and ctx.has_principals else []
    per_action: dict[str, dict[Any, int]] = {}
    firsts: dict[str, datetime] = {}
    for r in rows:
        per_action.setdefault(r["event_action"], {})[r["day"]] = int(r["calls"])
        firsts[r["event_action"]] = min(firsts.get(r["event_action"], r["first_ts"]), r["first_ts"])
    out = []
    for action in actions:
        cadence = classify_day_counts(
            per_action.get(action, {}), firsts.get(action), ctx.bucket_start, history_start=start
        )
        out.append(
            {
                "action": action,
                "kind": cadence.kind,
                "run_days": cadence.run_days,
                "period_days": cadence.period_days,
                "first_seen": cadence.first_seen,
                "median_per_run": cadence.median_per_day,
                "description": cadence.description,
            }
        )
    kinds = Counter(r["kind"] for r in out)
    signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight = 0
    housekeeping = [r for r in out if r["kind"] in ("weekly", "monthly", "periodic")]
    if out and housekeeping and len(housekeeping) == len(out):
        signal, weight = "benign", 2
        reasons = (f"{housekeeping[0]['kind']} housekeeping ({housekeeping[0]['action']})",)
    elif out and all(r["kind"] in ("continuous", "daily") for r in out):
        signal, weight = "benign", 1
        reasons = ("commands run on a steady daily cadence",)
    elif out and kinds.get("new", 0) >= max(3, 0.8 * len(out)):
        signal, weight = "suspicious", 1
        reasons = (f"{kinds['new']} commands never used before by these principals",)
    finding = (
        f"{len(out)} commands checked over {CADENCE_DAYS} days: "
        + (", ".join(f"{n} {k}" for k, n in kinds.most_common()) or "none")
        + "."
    )
    return StepResult(
        "command_cadence",
        question,
        finding,
        {"history_start": start, "rows": out},
        query.text(),
        signal,
        reasons,
        weight,
    )
