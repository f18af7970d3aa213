from __future__ import annotations

from trailspike.normalise.useragent import parse_user_agent


def test_browser_and_cli_agents() -> None:
    firefox = parse_user_agent(
        "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0"
    )
    assert firefox["name"] == "Firefox" and firefox["version"] == "24.0"
    assert firefox["os"] == {"name": "Windows", "version": "7", "full": "Windows 7"}
    assert firefox["device"] == {"name": "Other"}


def test_service_agent_is_other_and_results_are_fresh() -> None:
    first = parse_user_agent("ec2.amazonaws.com")
    assert first == {"name": "Other", "original": "ec2.amazonaws.com", "device": {"name": "Other"}}
    first["device"]["name"] = "changed"
    assert parse_user_agent("ec2.amazonaws.com")["device"] == {"name": "Other"}
