"""Turn the event columns into CloudTrail delivery files, laid out as S3 delivers them.

``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_
<YYYYMMDDTHHMMZ>_<id>.json.gz``, each ``{"Records": [...]}``. Records carry the fields of real
trails: ``userIdentity`` per identity type, ``tlsDetails``, ``sessionCredentialFromConsole``,
``requestParameters`` per API, error codes and messages in AWS's wording.

Implementation decisions: records are assembled by string concatenation from cached JSON
fragments (identity per session, parameters per resource, messages per principal), which is an
order of magnitude faster than building dicts and serialising them; every fragment that holds
free text goes through orjson, so the output is valid JSON. Files are grouped per account,
region and ``file_minutes`` (CloudTrail delivers every ~5 minutes; the demo default of 60 keeps
the file count, and so ingest overhead, small). gzip level 1 with ``mtime=0`` is fast and makes
the bytes depend on the seed only.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np
import orjson

from trailspike.demo.catalog import CALLS, OTHER_ERRORS, USER_AGENTS, denied
from trailspike.demo.events import CALL_KEYS, ERROR_KINDS, UA_KEYS, EventBuffer, EventColumns
from trailspike.demo.world import ACCOUNTS, REGIONS, RESOURCES, Principal, stable_id

_CALL_LIST = [CALLS[k] for k in CALL_KEYS]
_GLOBAL = np.array([c.is_global for c in _CALL_LIST])
_SESSION_SECONDS = {
    "sso": 4 * 3600,
    "iam_user": 8 * 3600,
    "root": 3600,
    "role": 3600,
    "service": 3600,
}
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class WriteStats:
    """What was written: file and record counts, and bytes before and after gzip."""

    files: int
    records: int
    raw_bytes: int
    gz_bytes: int


def _iso(seconds: int) -> str:
    return str(np.datetime64(int(seconds), "s")) + "Z"


class _Renderer:
    """Caches of JSON fragments, keyed by the small integers of the event columns."""

    def __init__(self, buf: EventBuffer, seed: int) -> None:
        self.principals: list[Principal] = [buf.cast[n] for n in buf.principal_names]
        self.addresses = buf.addresses
        self.seed = seed
        self.identities: dict[tuple[int, int, int, int, bool, int], str] = {}
        self.params: dict[tuple[int, int, int, int], str] = {}
        self.errors: dict[tuple[int, ...], str] = {}
        self.values: dict[tuple[int, int, int], dict[str, str]] = {}
        self.ua_json = [orjson.dumps(USER_AGENTS[k]).decode() for k in UA_KEYS]
        self.console = [k.startswith("console") for k in UA_KEYS]

    def resource_values(self, account: int, region: int, variant: int) -> dict[str, str]:
        key = (account, region, variant)
        values = self.values.get(key)
        if values is None:
            acct = ACCOUNTS[account].id
            values = {kind: names[variant] for kind, names in RESOURCES.items()}
            values.update(
                acct=acct, region=REGIONS[region], akid="AKIA" + stable_id(self.seed, acct, variant)
            )
            values["fnarn"] = f"arn:aws:lambda:{REGIONS[region]}:{acct}:function:{values['fn']}"
            self.values[key] = values
        return values

    def identity(self, principal: int, account: int, t_s: int, console: bool, variant: int) -> str:
        p = self.principals[principal]
        period = _SESSION_SECONDS[p.identity]
        cred = 0 if (p.identity == "iam_user" and not console) else t_s // period
        name_key = t_s // 86400
        variant = variant if p.session_name == "$instance" else 0
        key = (principal, account, cred, name_key, console, variant)
        ident = self.identities.get(key)
        if ident is None:
            created = _iso(cred * period) if cred else _iso(t_s - 3600)
            ident = p.identity_json(ACCOUNTS[account].id, cred, name_key, created, console, variant)
            self.identities[key] = ident
        return ident

    def request_parameters(self, call: int, account: int, region: int, variant: int) -> str:
        key = (call, account, region, variant)
        text = self.params.get(key)
        if text is None:
            text = _CALL_LIST[call].render_params(self.resource_values(account, region, variant))
            self.params[key] = text
        return text

    def error(
        self,
        kind: int,
        call: int,
        principal: int,
        account: int,
        region: int,
        variant: int,
        t_s: int,
        event_id: str,
    ) -> str:
        c = _CALL_LIST[call]
        token_needed = ERROR_KINDS[kind] == "denied" and c.prefix == "ec2" and not c.read_only
        key = (kind, call, principal, account, region, variant, t_s // 86400)
        if not token_needed and key in self.errors:
            return self.errors[key]
        p = self.principals[principal]
        arn = p.arn(ACCOUNTS[account].id, t_s // 86400, variant)
        values = self.resource_values(account, region, variant)
        if ERROR_KINDS[kind] == "denied":
            token = _encoded_message(event_id) if token_needed else ""
            code, message = denied(c, arn, c.render_resource(values), token)
        else:
            code, template = OTHER_ERRORS[ERROR_KINDS[kind]]
            message = Template(template).substitute(values, arn=arn)
        text = ',"errorCode":"' + code + '","errorMessage":' + orjson.dumps(message).decode()
        if not token_needed:
            self.errors[key] = text
        return text


def _encoded_message(event_id: str) -> str:
    """A stand-in for EC2's encoded authorization message: long, opaque, unique per call."""
    digest = hashlib.sha512(event_id.encode()).digest() * 4
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _tails(call: int, console: bool, service: bool) -> str:
    c = _CALL_LIST[call]
    if service:
        return ""
    tail = (
        ',"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256",'
        '"clientProvidedHostHeader":"' + c.source + '"}'
    )
    if console:
        tail += ',"sessionCredentialFromConsole":"true"'
    return tail


def write_world(
    cols: EventColumns,
    buf: EventBuffer,
    out_dir: Path,
    seed: int,
    file_minutes: int = 60,
    on_file: Callable[[int], None] | None = None,
) -> WriteStats:
    """Write every event as CloudTrail delivery files under ``out_dir/AWSLogs``.

    ``on_file`` is called with the number of records of each file written (for progress bars).
    """
    region = np.where(_GLOBAL[cols.call], 0, cols.region)
    order = np.lexsort((cols.t, region, cols.account))
    t_ms = cols.t[order]
    acct, reg = cols.account[order], region[order]
    chunk = t_ms // (file_minutes * 60_000)
    starts = np.flatnonzero(
        np.r_[True, (acct[1:] != acct[:-1]) | (reg[1:] != reg[:-1]) | (chunk[1:] != chunk[:-1])]
    )
    bounds = np.r_[starts, len(t_ms)]
    columns = {
        name: getattr(cols, name)[order].tolist()
        for name in ("principal", "call", "variant", "ip", "ua", "error")
    }
    t_s = (t_ms // 1000).tolist()
    times = np.datetime_as_string((t_ms // 1000).astype("datetime64[s]"), unit="s").tolist()
    ids = np.random.default_rng([seed, 20261116]).bytes(32 * len(t_ms)).hex()
    renderer = _Renderer(buf, seed)
    stats = [0, 0, 0]
    for f in range(len(starts)):
        lo, hi = int(bounds[f]), int(bounds[f + 1])
        records = [
            _record(renderer, i, int(acct[i]), int(reg[i]), t_s[i], times[i], columns, ids)
            for i in range(lo, hi)
        ]
        data = ('{"Records":[' + ",".join(records) + "]}").encode()
        path = _file_path(out_dir, seed, int(acct[lo]), int(reg[lo]), int(chunk[lo]), file_minutes)
        path.parent.mkdir(parents=True, exist_ok=True)
        packed = gzip.compress(data, compresslevel=1, mtime=0)
        path.write_bytes(packed)
        stats[0] += len(records)
        stats[1] += len(data)
        stats[2] += len(packed)
        if on_file is not None:
            on_file(len(records))
    return WriteStats(len(starts), stats[0], stats[1], stats[2])


def _record(
    r: _Renderer,
    i: int,
    account: int,
    region: int,
    t_s: int,
    time: str,
    columns: dict[str, list[int]],
    ids: str,
) -> str:
    principal, call = columns["principal"][i], columns["call"][i]
    variant, ua, kind = columns["variant"][i], columns["ua"][i], columns["error"][i]
    p = r.principals[principal]
    c = _CALL_LIST[call]
    console = r.console[ua]
    service = p.identity == "service" or bool(p.invoked_by)
    h = ids[64 * i : 64 * i + 64]
    event_id = f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
    request_id = f"{h[32:40]}-{h[40:44]}-4{h[45:48]}-b{h[49:52]}-{h[52:64]}"
    if service:
        host = p.invoked_by or p.name
        source_ip, ua_json = host, '"' + host + '"'
    else:
        source_ip, ua_json = r.addresses[columns["ip"][i]], r.ua_json[ua]
    err = r.error(kind, call, principal, account, region, variant, t_s, event_id) if kind else ""
    if c.key == "signin:ConsoleLogin":
        event_type, params = "AwsConsoleSignIn", "null"
        response = '{"ConsoleLogin":"Success"}'
        extra = (
            ',"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home",'
            '"MobileVersion":"No","MFAUsed":"Yes"}'
        )
    else:
        event_type, response, extra = "AwsApiCall", "null", ""
        params = r.request_parameters(call, account, region, variant)
    return (
        '{"eventVersion":"1.10","userIdentity":'
        + r.identity(principal, account, t_s, console, variant)
        + ',"eventTime":"'
        + time
        + 'Z","eventSource":"'
        + c.source
        + '","eventName":"'
        + c.name
        + '","awsRegion":"'
        + REGIONS[region]
        + '","sourceIPAddress":"'
        + source_ip
        + '","userAgent":'
        + ua_json
        + err
        + ',"requestParameters":'
        + params
        + ',"responseElements":'
        + response
        + extra
        + ',"requestID":"'
        + request_id
        + '","eventID":"'
        + event_id
        + '","readOnly":'
        + ("true" if c.read_only else "false")
        + ',"eventType":"'
        + event_type
        + '","managementEvent":true,"recipientAccountId":"'
        + ACCOUNTS[account].id
        + '","eventCategory":"Management"'
        + _tails(call, console, service)
        + "}"
    )


def _file_path(
    out_dir: Path, seed: int, account: int, region: int, chunk: int, file_minutes: int
) -> Path:
    delivered = int(chunk) * file_minutes * 60 + file_minutes * 60 + 5 * 60
    stamp = np.datetime64(delivered, "s").item()
    acct, reg = ACCOUNTS[account].id, REGIONS[region]
    name = (
        f"{acct}_CloudTrail_{reg}_{stamp:%Y%m%dT%H%MZ}_"
        f"{stable_id(seed, acct, reg, chunk, alphabet=_ALNUM)}.json.gz"
    )
    return (
        out_dir
        / "AWSLogs"
        / acct
        / "CloudTrail"
        / reg
        / f"{stamp:%Y}"
        / f"{stamp:%m}"
        / f"{stamp:%d}"
        / name
    )
