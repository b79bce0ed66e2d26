"""test_cdef.py - the cffi binding agrees with the public header c/include/gru.h.

The cdef is generated from gru.h by build_ffi.py; these tests check, independently of
that generator, that it parses, that it declares every GRU_API function of the whole
header (names found with a regex over gru.h), that the built extension exposes each,
and that the enum constants and version macros match the header's values.
"""
import importlib.util
import re
from pathlib import Path

import pytest

cffi = pytest.importorskip("cffi")

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "c" / "include" / "gru.h"
BUILD_FFI = ROOT / "build_ffi.py"

if not HEADER.exists() or not BUILD_FFI.exists():
    pytest.skip("needs the source tree (c/include/gru.h, build_ffi.py)", allow_module_level=True)


@pytest.fixture(scope="module")
def header_text():
    return HEADER.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def build_ffi():
    spec = importlib.util.spec_from_file_location("_pygru_build_ffi", BUILD_FFI)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def cdef(build_ffi, header_text):
    return build_ffi.extract_cdef(header_text)


def header_api_functions(text):
    """Names of the functions declared GRU_API anywhere in the header (comments out)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return set(re.findall(r"\bGRU_API\b[^;{}()]*?\b(gru_\w+)\s*\(", text))


def header_enum_values(text):
    """NAME = value pairs of the enum constants (GRU_OK, GRU_ERR_*, GRU_FLOAT*)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    body = "".join(re.findall(r"\benum\b\s*\w*\s*\{(.*?)\}", text, flags=re.S))
    return {name: int(value) for name, value in re.findall(r"\b(GRU_\w+)\s*=\s*(\d+)", body)}


def cdef_functions(cdef_text):
    ffi = cffi.FFI()
    ffi.cdef(cdef_text)
    decls = ffi._parser._declarations   # {"function gru_create": ..., ...}
    return {key.split(" ", 1)[1] for key in decls if key.startswith("function ")}


def test_header_has_functions_and_enums(header_text):
    # Guards the regexes below: an empty set would make the comparisons vacuous.
    funcs = header_api_functions(header_text)
    assert {"gru_create", "gru_forward", "gru_backward", "gru_destroy"} <= funcs
    enums = header_enum_values(header_text)
    assert enums.get("GRU_OK") == 0 and "GRU_FLOAT64" in enums


def test_cdef_parses_without_comments_or_macro(cdef):
    assert "GRU_API" not in cdef
    assert "/*" not in cdef and "//" not in cdef
    cffi.FFI().cdef(cdef)   # raises CDefError if it does not parse


def test_cdef_declares_every_api_function(cdef, header_text):
    declared = cdef_functions(cdef)
    in_header = header_api_functions(header_text)
    assert declared == in_header, (
        "missing from cdef: %s; in cdef but not GRU_API in gru.h: %s"
        % (sorted(in_header - declared), sorted(declared - in_header)))


def test_extension_exposes_every_api_function(header_text):
    _libgru = pytest.importorskip("pygru._libgru")
    missing = sorted(n for n in header_api_functions(header_text) if not hasattr(_libgru.lib, n))
    assert not missing, "pygru._libgru.lib lacks %s" % missing


def test_extension_enum_values_match_header(header_text):
    _libgru = pytest.importorskip("pygru._libgru")
    expected = header_enum_values(header_text)
    actual = {name: getattr(_libgru.lib, name, None) for name in expected}
    assert actual == expected


def test_extension_struct_matches_header(header_text):
    # cffi API mode checks the layout at compile time; here: every field is reachable.
    _libgru = pytest.importorskip("pygru._libgru")
    text = re.sub(r"/\*.*?\*/", " ", header_text, flags=re.S)
    body = re.search(r"typedef\s+struct\s+gru_config\s*\{(.*?)\}", text, flags=re.S).group(1)
    fields = re.findall(r"\b(\w+)\s*;", body)
    assert len(fields) >= 9
    cfg = _libgru.ffi.new("gru_config *")
    _libgru.lib.gru_config_init(cfg)
    for field in fields:
        getattr(cfg, field)
    assert {f for f, _ in _libgru.ffi.typeof("gru_config").fields} == set(fields)


def test_versions_match_header(header_text):
    _libgru = pytest.importorskip("pygru._libgru")
    version = re.search(r'#define\s+GRU_VERSION_STRING\s+"([^"]+)"', header_text).group(1)
    abi = int(re.search(r"#define\s+GRU_ABI_VERSION\s+(\d+)", header_text).group(1))
    assert _libgru.ffi.string(_libgru.lib.gru_version()).decode() == version
    assert _libgru.lib.gru_abi_version() == abi


def test_build_sources_are_relative_and_complete(build_ffi):
    # setuptools (sdist/wheel builds) needs project-relative paths.
    srcs = build_ffi.c_sources()
    on_disk = sorted(str(p.relative_to(ROOT)).replace("\\", "/")
                     for pat in ("c/src/*.c", "c/src/kernels/*.c") for p in ROOT.glob(pat))
    assert srcs == on_disk and srcs
    assert all(not Path(s).is_absolute() for s in srcs)
    kwds = build_ffi.ffibuilder._assigned_source[3]
    assert "-ffast-math" not in kwds["extra_compile_args"]


def test_integer_macros_reach_the_binding(header_text, cdef):
    """The integer #defines of the CFFI block (GRU_MAX_THREADS, GRU_WORKSPACE_ALIGN) are
    kept in the cdef, so the extension has them, with the header's values; pygru's
    MAX_THREADS is GRU_MAX_THREADS."""
    block = header_text[header_text.find("/* CFFI-BEGIN */"):header_text.find("/* CFFI-END */")]
    macros = dict(re.findall(r"^#define\s+(GRU_\w+)\s+(\d+)\s*$", block, flags=re.M))
    assert {"GRU_MAX_THREADS", "GRU_WORKSPACE_ALIGN"} <= set(macros)
    for name, value in macros.items():
        assert "#define %s %s" % (name, value) in cdef
    _libgru = pytest.importorskip("pygru._libgru")
    for name, value in macros.items():
        assert getattr(_libgru.lib, name) == int(value), name
    import pygru
    assert pygru.MAX_THREADS == int(macros["GRU_MAX_THREADS"])
