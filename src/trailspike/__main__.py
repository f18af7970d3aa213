from __future__ import annotations

from trailspike.cli import main

main()
