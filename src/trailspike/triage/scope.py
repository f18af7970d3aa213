"""What the principals touched in the 24 hours up to the alert: the scope of a compromise.

The investigation guide's last step: if the account may be compromised, list the services, data
and resources it reached. Resources are read from request parameters by a fixed list of
well-known keys (bucket, object key, role, user, secret, parameter name, KMS key, function, table,
stack, …), because CloudTrail's ``resources`` block is missing from most events.

Implementation decisions: reads (``List*``, ``Describe*``, ``Get*``, ``Head*``, ``Lookup*``) are
kept apart from successful changing calls, and successful IAM changes are the one thing this step
calls suspicious: a stolen key that managed to create a user or key has already persisted.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from trailspike.triage.context import PRINCIPAL_CLAUSE, AlertContext, Query, run_query
from trailspike.triage.results import Signal, StepResult
from trailspike.triage.vocabulary import service_of


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


RESOURCE_KEYS = (
    "bucketName",
    "key",
    "roleName",
    "userName",
    "groupName",
    "policyArn",
    "secretId",
    "name",
    "keyId",
    "instanceId",
    "functionName",
    "tableName",
    "clusterName",
    "repositoryName",
    "stackName",
    "logGroupName",
    "topicArn",
    "queueUrl",
)


def resources_in(request_parameters: str | None) -> list[str]:
    """Resource names a call's request parameters mention (a fixed list of well-known keys).

    >>> resources_in('{"bucketName": "logs", "key": "a.txt"}')
    ['bucketName=logs', 'key=a.txt']
    """
    if not request_parameters:
        return []
    try:
        params = json.loads(request_parameters)
    except ValueError:
        return []
    if not isinstance(params, dict):
        return []
    return [f"{k}={params[k]}" for k in RESOURCE_KEYS if isinstance(params.get(k), (str, int))]


IAM_CHANGE_PREFIXES = (
    "Create",
    "Attach",
    "Put",
    "Update",
    "Add",
    "Delete",
    "Detach",
    "Remove",
    "Set",
    "Upload",
    "Change",
    "Enable",
    "Deactivate",
    "Reset",
)


def is_iam_change(call: str) -> bool:
    """True for ``iam:`` calls that change identities or policies (not reports or simulations).

    >>> is_iam_change("iam:CreateAccessKey"), is_iam_change("iam:GenerateCredentialReport")
    (True, False)
    """
    service, _, action = call.partition(":")
    return service == "iam" and action.startswith(IAM_CHANGE_PREFIXES)


def scope(ctx: AlertContext) -> StepResult:
    """Services, actions, regions and resources the principals touched in the last 24 hours."""
    question = "What did the principals touch in the 24 hours up to the alert (scope)?"
    who = ctx.principal_params
    start = ctx.bucket_end - timedelta(hours=24)
    query = Query(
        "SELECT ts, event_provider, event_action, error_code, cloud_account_id, cloud_region, "  # noqa: S608
        f"request_parameters FROM events WHERE ts >= ? AND ts < ? AND {PRINCIPAL_CLAUSE} "
        "ORDER BY ts LIMIT 100000",
        (start, ctx.bucket_end, *who),
    )
    rows = run_query(ctx.con, query) if ctx.has_principals else []
    per_service: dict[str, dict[str, Any]] = {}
    resources: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    for r in rows:
        svc = service_of(r["event_provider"])
        entry = per_service.setdefault(svc, {"calls": 0, "failed": 0, "actions": Counter()})
        entry["calls"] += 1
        entry["failed"] += 1 if r["error_code"] else 0
        entry["actions"][r["event_action"]] += 1
        for res in resources_in(r["request_parameters"]):
            resources[res] += 1
        if not r["error_code"] and not str(r["event_action"] or "").startswith(
            ("List", "Describe", "Get", "Head", "Lookup")
        ):
            writes[f"{svc}:{r['event_action']}"] += 1
    service_rows = [
        {
            "service": svc,
            "calls": e["calls"],
            "failed": e["failed"],
            "distinct_actions": len(e["actions"]),
            "top_actions": ", ".join(str(a) for a, _ in e["actions"].most_common(5)),
        }
        for svc, e in sorted(per_service.items(), key=lambda kv: -kv[1]["calls"])
    ]
    iam_writes = sorted(w for w in writes if is_iam_change(w))
    signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight = 0
    if iam_writes:
        signal, weight = "suspicious", 1
        reasons = (f"successful IAM changes ({', '.join(iam_writes[:3])})",)
    accounts = sorted({str(r["cloud_account_id"]) for r in rows if r["cloud_account_id"]})
    regions = sorted({str(r["cloud_region"]) for r in rows if r["cloud_region"]})
    finding = (
        f"From {_when(start)} to {_when(ctx.bucket_end)}: {len(rows)} calls "
        f"({sum(1 for r in rows if r['error_code'])} failed) to {len(per_service)} services in "
        f"{len(accounts)} accounts and {len(regions)} regions, naming {len(resources)} resources; "
        f"{sum(writes.values())} successful changing calls."
    )
    return StepResult(
        "scope",
        question,
        finding,
        {
            "window_start": start,
            "window_end": ctx.bucket_end,
            "calls": len(rows),
            "accounts": accounts,
            "regions": regions,
            "services": service_rows,
            "distinct_resources": len(resources),
            "resources": [{"resource": k, "calls": n} for k, n in resources.most_common(50)],
            "successful_changes": [{"call": k, "calls": n} for k, n in writes.most_common(25)],
        },
        query.text(),
        signal,
        reasons,
        weight,
    )
