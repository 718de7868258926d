"""The memory settings of the long-running services (fraudwatch/collector.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from fraudwatch.collector import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_settings_that_keep_freed_memory() -> None:
    assert keep_freed_memory()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_memory_a_batch_freed_is_kept_for_the_next() -> None:
    # In a process of its own. By default glibc gives the top of its heap back once more than twice its
    # mapping threshold is free there, so the next batch of the same size page-faults all of it in again.
    probe = """
import resource, sys
from fraudwatch.collector import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
bytearray(2**20)  # freed at once, as in a process that has run a while: the threshold has adapted to such blocks
def batch():
    blocks = [bytearray(2**20) for _ in range(64)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
batch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    runs = {mode: subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, check=True, text=True)
            for mode in ("keep", "default")}  # fmt: skip
    faults = {mode: int(run.stdout) for mode, run in runs.items()}
    assert faults["default"] > 8000  # 64 MiB of 4 KiB pages
    assert faults["keep"] < faults["default"] / 10
