"""Outputs by name: the built-in ones and any a plugin registers.

``create_outputs(settings)`` builds the outputs named in the ``outputs`` setting (comma-separated)
from their settings. A third-party package adds one with :func:`register_output`, or through the
``trailspike.outputs`` entry-point group (value: a factory taking the settings mapping).

Implementation decisions: a plain dict of factories, filled on first use, never at import time;
unknown names are a :class:`ConfigError` listing the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from trailspike.core.errors import ConfigError
from trailspike.outputs.base import Output, OutputError

Factory = Callable[[Mapping[str, Any]], Output]
OUTPUTS: dict[str, Factory] = {}


def _stdout(settings: Mapping[str, Any]) -> Output:
    from trailspike.outputs.stdout import StdoutOutput

    return StdoutOutput()


def _ndjson(settings: Mapping[str, Any]) -> Output:
    from trailspike.outputs.ndjson import NdjsonOutput

    return NdjsonOutput(str(settings["ndjson_path"]))


def _webhook(settings: Mapping[str, Any]) -> Output:
    from trailspike.outputs.webhook import WebhookOutput

    if not settings.get("webhook_url"):
        raise ConfigError("the webhook output needs the setting webhook_url")
    fmt = str(settings.get("webhook_format", "json"))
    if fmt not in ("json", "slack"):
        raise ConfigError("setting webhook_format must be json or slack")
    return WebhookOutput(
        str(settings["webhook_url"]), payload=fmt, retries=int(settings.get("webhook_retries", 3))
    )


def _search(kind: str) -> Factory:
    def build(settings: Mapping[str, Any]) -> Output:
        from trailspike.outputs.search import ElasticsearchOutput, OpenSearchOutput

        cls = ElasticsearchOutput if kind == "elasticsearch" else OpenSearchOutput
        try:
            return cls(
                str(settings.get("elasticsearch_url", "")),
                str(settings.get("elasticsearch_index", "trailspike-alerts")),
                api_key=str(settings.get("elasticsearch_api_key", "")),
            )
        except OutputError as exc:
            raise ConfigError(str(exc)) from exc

    return build


BUILTIN: dict[str, Factory] = {
    "stdout": _stdout,
    "ndjson": _ndjson,
    "webhook": _webhook,
    "elasticsearch": _search("elasticsearch"),
    "opensearch": _search("opensearch"),
}


def output_classes() -> dict[str, type]:
    """Built-in output name → class (imports the optional search clients' modules lazily)."""
    from trailspike.outputs.ndjson import NdjsonOutput
    from trailspike.outputs.search import ElasticsearchOutput, OpenSearchOutput
    from trailspike.outputs.stdout import StdoutOutput
    from trailspike.outputs.webhook import WebhookOutput

    return {
        "stdout": StdoutOutput,
        "ndjson": NdjsonOutput,
        "webhook": WebhookOutput,
        "elasticsearch": ElasticsearchOutput,
        "opensearch": OpenSearchOutput,
    }


def register_output(name: str, factory: Factory) -> None:
    """Make ``name`` usable in the ``outputs`` setting."""
    OUTPUTS[name] = factory


def available_outputs() -> dict[str, Factory]:
    """Every output factory: built-ins, entry points, then registered ones."""
    found = dict(BUILTIN)
    for entry in entry_points(group="trailspike.outputs"):
        found[entry.name] = entry.load()
    found.update(OUTPUTS)
    return found


def output_names(settings: Mapping[str, Any]) -> list[str]:
    """The names in the ``outputs`` setting, in order, without blanks or repeats.

    >>> output_names({"outputs": "stdout, ndjson,,stdout"})
    ['stdout', 'ndjson']
    """
    names = [n.strip() for n in str(settings.get("outputs", "")).split(",")]
    return list(dict.fromkeys(n for n in names if n))


def create_outputs(settings: Mapping[str, Any]) -> list[Output]:
    """Build the outputs named in ``settings["outputs"]``."""
    factories = available_outputs()
    outputs = []
    for name in output_names(settings):
        if name not in factories:
            known = ", ".join(sorted(factories))
            raise ConfigError(f"unknown output {name!r} in setting outputs (known: {known})")
        outputs.append(factories[name](settings))
    return outputs
