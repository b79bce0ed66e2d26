"""test_version.py - one version number: the GRU_VERSION_* macros of c/include/gru.h,
and every copy or product of it agrees with them:

  * GRU_VERSION_STRING equals MAJOR.MINOR.PATCH;
  * pygru.__version__ (read without loading the C extension);
  * gru_version() of the loaded extension pygru._libgru (a stale build fails here);
  * the installed distribution's metadata (importlib.metadata), when the installed pygru
    is this tree or was built from it;
  * the version c/Makefile computes (soname, gru.pc): `make -s -C c print-version`;
  * examples/rust/Cargo.toml's literal [package] version;
  * the newest entry of CHANGELOG.md.

The source-tree checks skip when run against an installed pygru without its repository.
"""
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import pygru

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "c" / "include" / "gru.h"
REQUIRED = os.environ.get("GRU_REQUIRE_EXAMPLES") == "1"

if not HEADER.exists():
    pytest.skip("needs the source tree (c/include/gru.h)", allow_module_level=True)

SEMVER = r"(\d+)\.(\d+)\.(\d+)"


@pytest.fixture(scope="module")
def header_version():
    """The version as gru.h states it, parsed here independently of pygru/_version.py."""
    text = HEADER.read_text(encoding="utf-8")
    numbers = [re.search(r"^#define\s+GRU_VERSION_%s\s+(\d+)\s*$" % part, text, re.M)
               for part in ("MAJOR", "MINOR", "PATCH")]
    assert all(numbers), "gru.h lacks a GRU_VERSION_MAJOR/MINOR/PATCH macro"
    string = re.search(r'^#define\s+GRU_VERSION_STRING\s+"([^"]*)"\s*$', text, re.M)
    assert string, "gru.h lacks GRU_VERSION_STRING"
    version = ".".join(str(int(m.group(1))) for m in numbers)
    assert string.group(1) == version, (
        "GRU_VERSION_STRING %r != MAJOR.MINOR.PATCH %r" % (string.group(1), version))
    return version


def test_header_version_is_semver(header_version):
    assert re.fullmatch(SEMVER, header_version)


def test_python_version(header_version):
    assert pygru.__version__ == header_version


def test_python_version_does_not_load_the_extension():
    # pygru's __init__ is lazy on purpose: the version must not need pygru._libgru.
    code = ("import sys, pygru; v = pygru.__version__; "
            "sys.exit(3 if 'pygru._libgru' in sys.modules else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True,
                       text=True)
    assert r.returncode == 0, "import pygru + __version__ loaded the extension\n" + r.stderr


def test_version_reader_rejects_disagreeing_macros(tmp_path):
    from pygru import _version
    if not hasattr(_version, "read_header_version"):
        pytest.skip("pygru._version is the literal module of an installed wheel")
    bad = tmp_path / "gru.h"
    bad.write_text(HEADER.read_text(encoding="utf-8").replace(
        "#define GRU_VERSION_PATCH ", "#define GRU_VERSION_PATCH 9", 1), encoding="utf-8")
    with pytest.raises(RuntimeError, match="does not match"):
        _version.read_header_version(str(bad))


def test_extension_version(header_version):
    _libgru = pytest.importorskip("pygru._libgru")
    loaded = _libgru.ffi.string(_libgru.lib.gru_version()).decode()
    assert loaded == header_version, (
        "the loaded extension %s is libgru %s, gru.h says %s: rebuild it "
        "(python build_ffi.py, or reinstall)" % (_libgru.__file__, loaded, header_version))


def _distribution_of_this_tree():
    """The installed pygru distribution if it is this tree's pygru (an editable install
    of ROOT, or an install whose files include the imported pygru/__init__.py), else
    None (e.g. the venv's pygru is an editable install of another worktree)."""
    try:
        dist = importlib.metadata.distribution("pygru")
    except importlib.metadata.PackageNotFoundError:
        return None
    direct = dist.read_text("direct_url.json")
    if direct:
        info = json.loads(direct)
        if info.get("dir_info", {}).get("editable"):
            url = urlparse(info.get("url", ""))
            if url.scheme == "file" and Path(unquote(url.path)).resolve() == ROOT:
                return dist
    init = Path(pygru.__file__).resolve()
    for f in dist.files or ():
        if str(f).replace("\\", "/") == "pygru/__init__.py":
            if Path(dist.locate_file(f)).resolve() == init:
                return dist
    return None


def test_installed_metadata_version(header_version):
    dist = _distribution_of_this_tree()
    if dist is None:
        pytest.skip("no installed pygru distribution of this tree (%s)" % ROOT)
    assert dist.version == header_version, (
        "the installed metadata of this tree (under %s) says %s, gru.h %s: reinstall "
        "(pip install -e .) or remove stale *.egg-info" % (dist.locate_file(""), dist.version,
                                                          header_version))
    assert importlib.metadata.version("pygru") == header_version


def test_makefile_version(header_version):
    make = shutil.which("make")
    if make is None:
        if REQUIRED:
            pytest.fail("make is needed (GRU_REQUIRE_EXAMPLES=1)")
        pytest.skip("make not found")
    r = subprocess.run([make, "-s", "-C", str(ROOT / "c"), "print-version"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == header_version


def test_makefile_pkg_config_template():
    # gru.pc gets its Version from the Makefile (checked above) and declares the license.
    text = (ROOT / "c" / "gru.pc.in").read_text(encoding="utf-8")
    assert re.search(r"^Version: @VERSION@$", text, re.M)
    assert re.search(r"^License: BSD-3-Clause$", text, re.M)


def test_cargo_version(header_version):
    text = (ROOT / "examples" / "rust" / "Cargo.toml").read_text(encoding="utf-8")
    package = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert package, "Cargo.toml has no [package] table"
    version = re.search(r'^version\s*=\s*"([^"]*)"\s*$', package.group(1), re.M)
    assert version, "Cargo.toml's [package] has no literal version"
    assert version.group(1) == header_version, (
        "examples/rust/Cargo.toml says %s, gru.h %s" % (version.group(1), header_version))


def test_changelog_newest_entry(header_version):
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    entries = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert entries, "CHANGELOG.md has no '## [X.Y.Z]' entry"
    assert entries[0] == header_version, (
        "the newest CHANGELOG.md entry is %s, gru.h says %s" % (entries[0], header_version))
    assert all(re.fullmatch(SEMVER, v) for v in entries)
    # newest first, no version twice
    keys = [tuple(int(n) for n in v.split(".")) for v in entries]
    assert keys == sorted(set(keys), reverse=True)
