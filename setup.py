# setup.py - the setuptools hook for what pyproject.toml cannot declare statically:
#   * the cffi extension pygru._libgru (build_ffi.py:ffibuilder);
#   * the version, read from the GRU_VERSION_* macros of c/include/gru.h (the single
#     source; pygru/_version.py holds the reader);
#   * in a wheel, pygru/_version.py replaced by the version as a literal (a wheel has
#     no gru.h to parse); editable installs keep the parsing module, so they follow
#     the header of their tree;
#   * the wheel tagged abi3 (cp39): cffi builds the extension for the limited API, so one
#     wheel serves every CPython >= 3.9 of its platform.
# Everything else is declared in pyproject.toml.
import os
import runpy
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
VERSION = runpy.run_path(os.path.join(ROOT, "pygru", "_version.py"))["read_header_version"](
    os.path.join(ROOT, "c", "include", "gru.h"))

GENERATED_VERSION_PY = '''\
"""pygru/_version.py - written by setup.py when this wheel was built, from the
GRU_VERSION_* macros of c/include/gru.h (the version of the libgru compiled into
pygru._libgru)."""
__all__ = ["__version__"]
__version__ = %r
'''


class build_py_with_version(build_py):
    """build_py, then pygru/_version.py in the build tree rewritten to a literal."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = os.path.join(self.build_lib, "pygru", "_version.py")
        with open(target, "w", encoding="utf-8") as f:
            f.write(GENERATED_VERSION_PY % VERSION)


def limited_api_options():
    # Only where cffi really builds for the limited API (not on debug or free-threaded
    # CPython, nor on PyPy); build_ffi.py's in-place build applies the same test.
    import sysconfig
    if (sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount")
            or sysconfig.get_config_var("Py_GIL_DISABLED")):
        return {}
    return {"bdist_wheel": {"py_limited_api": "cp39"}}


setup(
    version=VERSION,
    cffi_modules=["build_ffi.py:ffibuilder"],
    cmdclass={"build_py": build_py_with_version},
    options=limited_api_options(),
)
