"""Fixtures shared by every test folder, and the test tiers' markers (registered in
pyproject.toml): `browser` and `cuda` tests skip, with the reason, where there is no Chromium or
no CUDA GPU; in CI (`OPTEVO_CI` set, as `.ci/run` does) a missing Chromium is a failure, since
CI installs it. Shared code (not fixtures) is in the `helpers` package beside this file."""

from __future__ import annotations

import os

import pytest

from helpers.browser import chromium_path


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") is not None and chromium_path() is None:
        why = "headless Chromium (`chromium` or `chromium-browser`) was not found on PATH"
        if os.environ.get("OPTEVO_CI"):
            pytest.fail(
                f"{item.nodeid} needs a browser and {why}; CI (OPTEVO_CI is set) must have it: "
                "`.ci/run` installs it with apt-get install -y chromium",
                pytrace=False,
            )
        pytest.skip(f"browser test skipped because {why} (apt-get install -y chromium)")
    cuda = item.get_closest_marker("cuda")
    if cuda is not None:
        import torch

        if not torch.cuda.is_available():
            what = cuda.kwargs.get("reason", "runs on a CUDA GPU")
            pytest.skip(f"skipped because there is no CUDA GPU here ({what})")


@pytest.fixture(scope="module")
def digits():
    """The digits data set (`optevo.data.load("digits")`), loaded once per test module."""
    from optevo.data import load

    return load("digits")
