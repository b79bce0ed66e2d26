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


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("nm") is None,
                    reason="needs make, a C compiler and nm")
def test_no_global_mutable_state():
    # gru.h promises no global mutable state: no object of libgru lives in .bss
    # (nm's b/B: zero-initialised writable data; .data holds only constant tables that
    # need relocations, and those are listed here so a new writable one shows)
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "c")], check=True,
                   capture_output=True, timeout=900)
    out = subprocess.run(["nm", os.path.join(ROOT, "c", "build", "libgru.a")],
                         capture_output=True, text=True, check=True).stdout
    symbols = [line.split()[-2:] for line in out.splitlines() if len(line.split()) == 3]
    bss = sorted(name for kind, name in symbols if kind in "bB")
    assert bss == [], "writable zero-initialised globals in libgru: %s" % bss
    data = sorted(name.split(".")[0] for kind, name in symbols if kind in "dD")
    assert set(data) <= {"kind", "words", "KINDS", "flags", "keys", "rates", "candidates",
                         "gru_kernels_scalar", "gru_kernels_avx2", "gru_kernels_avx512",
                         "gru_kernels_neon", "gru_qkernels_scalar", "gru_qkernels_avx2",
                         "gru_qkernels_avx512vnni", "gru_bkernels_scalar",
                         "gru_bkernels_avx512", "gru_bkernels_avx512bf16",
                         "gru_bkernels_avx2", "gru_qkernels_neon", "gru_qkernels_neonmull", "gru_bkernels_neon",
                         "gru_bkernels_neonbf16"}, data
