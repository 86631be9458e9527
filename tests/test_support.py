"""The one rule for missing test prerequisites: skip locally, fail in CI."""

from __future__ import annotations

import pytest

from tests.support import unavailable


@pytest.mark.parametrize("ci", ["1", "true"])
def test_a_missing_prerequisite_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        unavailable("the X tests", "X is missing", "install X")


def test_a_missing_prerequisite_skips_locally_saying_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install X"):
        unavailable("the X tests", "X is missing", "install X")
