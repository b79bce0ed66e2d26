"""pygru/_version.py - pygru's version, taken from its single source: the
GRU_VERSION_MAJOR / MINOR / PATCH macros of c/include/gru.h. Imports only the standard
library (never the C extension), so ``import pygru`` stays lazy.

This text is what a source tree runs (a checkout, ``pip install -e .``, a tree that was
never built): it parses ../c/include/gru.h. Installed wheels never carry it: setup.py's
build_py writes, in its place in the wheel, a module holding the version read from the
same header as a literal (a wheel has no gru.h). setup.py also takes the distribution's
version from read_header_version(), so the C library, the extension, ``pygru.__version__``
and the installed metadata all agree; tests/test_version.py checks that.
"""
import os
import re

__all__ = ["__version__", "read_header_version"]

HEADER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "c", "include", "gru.h")


def read_header_version(path=HEADER):
    """"MAJOR.MINOR.PATCH" from the GRU_VERSION_* macros of gru.h at path. Raises
    RuntimeError if a macro is missing or GRU_VERSION_STRING disagrees with the numbers."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts = []
    for name in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define\s+GRU_VERSION_%s\s+(\d+)\s*$" % name, text, flags=re.M)
        if m is None:
            raise RuntimeError("%s: no '#define GRU_VERSION_%s <number>'" % (path, name))
        parts.append(str(int(m.group(1))))
    version = ".".join(parts)
    m = re.search(r'^#define\s+GRU_VERSION_STRING\s+"([^"]*)"\s*$', text, flags=re.M)
    if m is None or m.group(1) != version:
        raise RuntimeError("%s: GRU_VERSION_STRING %r does not match MAJOR.MINOR.PATCH %r"
                           % (path, m.group(1) if m else None, version))
    return version


try:
    __version__ = read_header_version()
except OSError:
    # pygru copied without the c/ folder beside it, and not installed from a wheel.
    __version__ = "0+unknown"
