"""The suite's own guards work: a dead shared JVM is replaced and reported once, a leaked
streaming query fails the test that leaked it and is stopped before the next test.

A small suite (support_files/guarded_suite.py) runs in a pytest subprocess with this suite's
conftest as a plugin, so its JVM dies without taking this session's down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# It starts JVMs (in its pytest subprocess): a Spark test, so `make test-fast` leaves it out.
pytestmark = [pytest.mark.slow, pytest.mark.spark]

TESTS = Path(__file__).resolve().parents[1]


def test_a_dead_jvm_is_rebuilt_and_reported_and_a_leaked_query_fails_its_test(tmp_path):
    suite = tmp_path / "test_guarded_suite.py"
    shutil.copy(TESTS / "integration" / "support_files" / "guarded_suite.py", suite)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get(
        "PYTHONPATH", "")]).rstrip(os.pathsep)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-rA",
         "-q", "--rootdir", str(tmp_path), str(suite)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    out = done.stdout
    assert "PASSED test_guarded_suite.py::test_a_kills_the_jvm" in out, out[-3000:]
    assert "PASSED test_guarded_suite.py::test_b_gets_a_new_session" in out, out[-3000:]
    assert "PASSED test_guarded_suite.py::test_d_sees_no_leftover" in out, out[-3000:]
    assert ("test_guarded_suite.py::test_c_leaks_a_query left streaming queries running "
            "(now stopped): leaky_guard_query") in out
    assert out.count("The shared test JVM died (exit code -9) during or after "
                     "test_guarded_suite.py::test_a_kills_the_jvm") == 1
    assert done.returncode == 1  # the leak is an error of that test
