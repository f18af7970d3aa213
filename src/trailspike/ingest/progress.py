"""The ingest progress bar (rich, over files), or nothing when it is off."""

from __future__ import annotations

from typing import Any


class FileProgress:
    """A rich progress bar over files, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.bar: Any = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} files"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.bar.add_task("ingest", total=total)
            self.bar.start()

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(0, advance=1)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
