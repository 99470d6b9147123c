"""Shared fixtures: every test starts with a clean engine and an empty working directory."""

from __future__ import annotations

import pytest

from engine.testing import reset_engine


@pytest.fixture(autouse=True)
def clean_engine(tmp_path, monkeypatch):
    """A fresh engine per test, run inside a temporary directory so dump/ never leaks."""
    reset_engine()
    monkeypatch.chdir(tmp_path)
    yield
    reset_engine()
