"""trailspike: Elastic-style ML anomaly alerts for AWS CloudTrail, on one machine."""

from __future__ import annotations

__version__ = "0.1.0"
