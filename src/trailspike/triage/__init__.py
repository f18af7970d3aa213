"""Automated triage of alerts: the rule's investigation guide as code, and the HTML report.

Start at :func:`trailspike.triage.report.triage_alert`; :mod:`trailspike.triage.html` writes the
self-contained report; :mod:`trailspike.triage.cadence` classifies how a command recurs.
"""
