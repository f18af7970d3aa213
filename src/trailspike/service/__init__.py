"""The long-running service (``trailspike run``) and how other commands share its store."""
