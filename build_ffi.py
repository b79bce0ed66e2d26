"""build_ffi.py - builds pygru's C extension module ``pygru._libgru`` with cffi (API mode).

The extension compiles every libgru source (c/src/*.c, c/src/kernels/*.c) together
with cffi's wrapper, so ``pygru._libgru.lib`` calls the C functions directly and
releases the GIL around each call. The cdef is generated from the public header:
the text between ``/* CFFI-BEGIN */`` and ``/* CFFI-END */`` in c/include/gru.h,
with comments and the ``GRU_API`` export macro removed, so the binding cannot drift
from the header (tests/test_cdef.py checks that every GRU_API function is declared).

Used two ways:
  * by setuptools, through ``setup(cffi_modules=["build_ffi.py:ffibuilder"])``
    (pip install . / pip install -e .); paths are relative to the project root, which
    is the working directory of a setuptools build;
  * directly, ``python build_ffi.py``, for an in-place development build: it writes
    pygru/_libgru.abi3.so (the name setuptools uses) next to the Python sources.
No -ffast-math, ever: the library's numerics (NaN propagation, exact sigmoid/tanh
limits) rely on IEEE semantics.
"""
import glob
import os
import re
import sys

from cffi import FFI

ROOT = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(ROOT, "c", "include", "gru.h")


def extract_cdef(header_text):
    """Returns the cdef for cffi: the declarations between the CFFI markers of gru.h,
    without comments, the GRU_API macro or preprocessor lines other than integer
    constants (``#define GRU_NAME 123``)."""
    begin, end = "/* CFFI-BEGIN */", "/* CFFI-END */"
    i, j = header_text.find(begin), header_text.find(end)
    if i < 0 or j < 0 or j < i:
        raise RuntimeError("gru.h: the %s ... %s markers are missing" % (begin, end))
    text = header_text[i + len(begin):j]
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)   # block comments
    text = re.sub(r"//[^\n]*", " ", text)                # line comments
    # preprocessor lines, but for integer constants (#define GRU_MAX_THREADS 256), which
    # cffi exposes as lib.GRU_MAX_THREADS
    text = re.sub(r"^\s*#(?!define\s+GRU_\w+\s+\d+\s*$)[^\n]*", " ", text, flags=re.M)
    text = re.sub(r"\bGRU_API\b", " ", text)
    # Tidy: collapse the blank runs the removals leave behind.
    lines = [ln.rstrip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln.strip()) + "\n"


def _project_files(patterns, absolute):
    found = [p for pat in patterns for p in glob.glob(os.path.join(ROOT, *pat.split("/")))]
    rel = sorted(os.path.relpath(p, ROOT).replace(os.sep, "/") for p in found)
    return [os.path.join(ROOT, p) for p in rel] if absolute else rel


def c_sources(absolute=False):
    """Sorted libgru sources, relative to the project root (setuptools wants relative
    paths so that an sdist builds anywhere), or absolute."""
    return _project_files(["c/src/*.c", "c/src/kernels/*.c"], absolute)


def c_headers(absolute=False):
    return _project_files(["c/include/*.h", "c/src/*.h", "c/src/kernels/*.h"], absolute)


def compile_args():
    """(compile flags, libraries, link flags): gcc/clang with POSIX threads for the
    model's thread pool; MSVC (win32) gets its own equivalents and a one-thread pool."""
    if sys.platform == "win32" and "GCC" not in sys.version:
        return ["/O2", "/std:c11"], [], []
    return ["-std=c11", "-O2", "-fvisibility=hidden", "-pthread"], ["m"], ["-pthread"]


def make_builder(absolute=False):
    """absolute=False: paths relative to the project root, for setuptools (which runs
    from there); True: absolute paths, for ffibuilder.compile (which runs the compiler
    from its tmpdir)."""
    with open(HEADER, encoding="utf-8") as f:
        cdef = extract_cdef(f.read())
    args, libs, link_args = compile_args()
    builder = FFI()
    builder.cdef(cdef)
    builder.set_source(
        "pygru._libgru",
        '#include "gru.h"',
        sources=c_sources(absolute),
        depends=c_headers(absolute),
        include_dirs=[os.path.join(ROOT, d) if absolute else d for d in ("c/include", "c/src")],
        define_macros=[("GRU_BUILDING", None)],
        extra_compile_args=args,
        libraries=libs,
        extra_link_args=link_args,
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    # In-place build, from any working directory: intermediate files go to
    # build/cffi, the module is copied into pygru/.
    if not c_sources():
        sys.exit("build_ffi.py: no C sources found under c/src")
    so = make_builder(absolute=True).compile(tmpdir=os.path.join(ROOT, "build", "cffi"),
                                             verbose="-v" in sys.argv)
    # cffi writes the module under tmpdir/pygru/. Install it into the package under
    # the name setuptools gives it (cffi builds for the limited API: _libgru.abi3.so on
    # CPython), through a rename so that processes which have the old module loaded
    # keep a valid file, and remove other builds of it, which could shadow this one.
    import importlib.machinery
    import shutil
    import sysconfig
    limited = (sys.implementation.name == "cpython" and not hasattr(sys, "gettotalrefcount")
               and not sysconfig.get_config_var("Py_GIL_DISABLED")
               and ".abi3.so" in importlib.machinery.EXTENSION_SUFFIXES)
    name = "_libgru" + (".abi3.so" if limited else os.path.basename(so)[len("_libgru"):])
    pkg = os.path.join(ROOT, "pygru")
    dest = os.path.join(pkg, name)
    shutil.copyfile(so, dest + ".tmp")
    os.replace(dest + ".tmp", dest)
    for other in glob.glob(os.path.join(pkg, "_libgru.*")):
        if other != dest and other.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            os.unlink(other)
            print("removed", os.path.relpath(other, ROOT))
    print("built", os.path.relpath(dest, ROOT))
