"""Run a child process that file permissions bind, even when the tests run as root."""

from __future__ import annotations

import os
import shutil

import pytest

# Root passes permission checks through these capabilities; without them a file's mode binds it
# as it binds its owner. (Switching to an unprivileged user instead would not do: the Python the
# tests run may live where only root can reach it, as under /root/.pyenv.)
_BYPASS = "-dac_override,-dac_read_search"


def bound_by_permissions() -> list[str]:
    """The command prefix that makes a child obey file permissions: none for a normal user; for
    root, ``setpriv`` (util-linux) dropping the capabilities that bypass them. Skips the test
    when root has no ``setpriv``."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root ignores file permissions, and setpriv (util-linux) is not installed")
    return [setpriv, f"--bounding-set={_BYPASS}", "--inh-caps=-all"]
