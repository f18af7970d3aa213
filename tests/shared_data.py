"""Access to the ../shared reference data; tests that need it are skipped with the reason if absent.

A module of its own (not conftest) so test modules in any folder can import it by a unique name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the calling test is skipped with the reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"reference data {path} is absent (the ../shared folder is not beside the repo)"
        )
    return path
