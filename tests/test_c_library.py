"""test_c_library.py - runs libgru's own C tests (c/tests, no Python involved) as part
of the pytest suite, so the README's test command covers the C library too.

`make -C c test` builds libgru and its test binary and runs it; the binary prints one
line per failed check and closes with "N passed, M failed". Skipped only when there is
no make or C compiler (the sanitizer runs are CI's, in .ci/run).
"""
import os
import re
import shutil
import subprocess

import pytest

# the C tests cover every kernel set themselves (not rerun per kernel set)
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make and a C compiler")
def test_c_unit_tests_pass():
    proc = subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "c"), "test"],
                          capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    summary = re.findall(r"^(\d+) passed, (\d+) failed", output, flags=re.M)
    assert proc.returncode == 0, "make -C c test failed:\n" + output[-6000:]
    assert summary, "the C tests printed no 'N passed, M failed' line:\n" + output[-3000:]
    passed, failed = map(int, summary[-1])
    assert failed == 0 and passed > 0, output[-6000:]
