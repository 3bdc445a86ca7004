"""Shared test fixtures: where the real datasets live, a skip helper, the ``needs_data`` marker, and one summary line
counting the tests skipped because ``../shared/data`` is missing (0 whenever it is present)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MISSING = "missing ../shared/data"  # every data skip reason contains "shared/data"; the summary counts those


def require_data(*parts: str) -> Path:
    """``DATA / parts``; skips the calling test (naming the path) when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{MISSING}: {path} is absent")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder (``../shared/data`` beside the checkout); may not exist."""
    return DATA


@pytest.fixture
def data_path():
    """``data_path("rafdb", "DATASET")``: that folder under ``../shared/data``, or a skip when it is absent."""
    return require_data


def pytest_runtest_setup(item: pytest.Item) -> None:
    # @pytest.mark.needs_data("rafdb", ...) skips unless every named folder exists (no names: ../shared/data itself).
    for mark in item.iter_markers("needs_data"):
        for part in mark.args or ("",):
            require_data(part)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for rep in skipped if "shared/data" in str(getattr(rep, "longrepr", "")))
    terminalreporter.write_line(f"skipped for missing ../shared/data: {n}")
