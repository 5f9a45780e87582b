"""Where headless Chromium is (Debian's `chromium`, installed by `.ci/run`)."""

from __future__ import annotations

import shutil

NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None
