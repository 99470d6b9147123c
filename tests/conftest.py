"""Shared fixtures: every test starts with a clean engine and an empty working directory."""

from __future__ import annotations

import pytest

from engine.testing import reset_engine


@pytest.fixture(autouse=True)
def clean_engine(tmp_path, monkeypatch):
    """A new ``Engine`` per test (the default engine, which module-level calls use), run inside a
    temporary directory so dump/ never leaks. Yields the engine."""
    fresh = reset_engine()
    monkeypatch.chdir(tmp_path)
    yield fresh
    reset_engine()


def pytest_collection_modifyitems(config, items):
    """The crash suite runs first, in a process nothing else has run in yet: its children are the
    slowest tests, and a failure there is the one that matters most. (It was moved first while a
    full-suite-only hang was being chased; the cause was the harness's stepped clock counting a
    cancelled timer as a sleeper, fixed in tests/crash/child.py.)"""
    items.sort(key=lambda item: 0 if "tests/crash/" in item.nodeid.replace("\\", "/") else 1)
