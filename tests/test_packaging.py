"""test_packaging.py - the sdist builds everything, and the wheel carries everything.

The sdist must hold what building needs (build_ffi.py, setup.py, pyproject.toml, the
libgru headers and sources), the documents (LICENSE, README.md, CHANGELOG.md), every
module of every pygru package and the package data, and no build products. The wheel,
built from that unpacked sdist (as `python -m build` does), must hold every pygru
package (found automatically: a new subpackage needs no packaging edit), the extension,
pygru/data/*.csv, pygru/py.typed, LICENSE, metadata with the header's version and the
SPDX license, and a _version.py that states the version as a literal.

Two ways to run:
  * PYGRU_DIST_DIR=DIR: inspect the sdist and wheel already built into DIR
    (.ci/run, after `python -m build`); a missing file fails;
  * otherwise build both here through setuptools' PEP 517 backend in this interpreter
    (no network). Without setuptools >= 77 and cffi here (a fresh venv has an older
    setuptools; pip's build isolation fetches a new one, this test cannot) the tests
    skip; without a C compiler they skip, or fail under GRU_REQUIRE_EXAMPLES=1.
"""
import email.parser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

# builds an sdist and a wheel (not rerun per kernel set)
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "c" / "include" / "gru.h"
REQUIRED = os.environ.get("GRU_REQUIRE_EXAMPLES") == "1"
DIST_DIR = os.environ.get("PYGRU_DIST_DIR")

if not HEADER.exists() or not (ROOT / "setup.py").exists():
    pytest.skip("needs the source tree", allow_module_level=True)


def header_version():
    text = HEADER.read_text(encoding="utf-8")
    return re.search(r'^#define\s+GRU_VERSION_STRING\s+"([^"]*)"', text, re.M).group(1)


def unavailable(reason, required=False):
    if required:
        pytest.fail(reason + " (GRU_REQUIRE_EXAMPLES=1)")
    pytest.skip(reason)


def backend(hook, out_dir, cwd):
    """Runs setuptools.build_meta.<hook>(out_dir) in a child of this interpreter, in cwd;
    returns the path of what it built."""
    code = "import sys, setuptools.build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"
    r = subprocess.run([sys.executable, "-c", code, hook, str(out_dir)], cwd=str(cwd),
                       capture_output=True, text=True)
    assert r.returncode == 0, "%s failed:\n%s\n%s" % (hook, r.stdout[-3000:], r.stderr[-3000:])
    return Path(out_dir) / r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(sdist path, wheel path)."""
    if DIST_DIR:
        sdists = sorted(Path(DIST_DIR).glob("pygru-*.tar.gz"))
        wheels = sorted(Path(DIST_DIR).glob("pygru-*.whl"))
        assert len(sdists) == 1 and len(wheels) == 1, (
            "PYGRU_DIST_DIR=%s must hold one sdist and one wheel: %s" % (
                DIST_DIR, sorted(p.name for p in Path(DIST_DIR).iterdir())))
        return sdists[0], wheels[0]
    try:
        setuptools_version = importlib.metadata.version("setuptools")
        importlib.metadata.version("cffi")
    except importlib.metadata.PackageNotFoundError:
        unavailable("setuptools and cffi are needed to build the sdist and the wheel")
    if int(setuptools_version.split(".")[0]) < 77:
        unavailable("setuptools >= 77 is needed (SPDX license), found " + setuptools_version)
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        unavailable("a C compiler is needed to build the wheel", REQUIRED)
    out = tmp_path_factory.mktemp("dist")
    sdist = backend("build_sdist", out, ROOT)
    with tarfile.open(sdist) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(out / "unpacked", **safe)
    (tree,) = (out / "unpacked").iterdir()
    wheel = backend("build_wheel", out, tree)
    return sdist, wheel


@pytest.fixture(scope="module")
def sdist_files(dists):
    with tarfile.open(dists[0]) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        top = {n.split("/", 1)[0] for n in names}
        assert len(top) == 1, "an sdist has one top folder: %s" % top
        pkg_info = tar.extractfile(top.pop() + "/PKG-INFO").read().decode("utf-8")
        version_py = tar.extractfile(
            next(n for n in names if n.endswith("/pygru/_version.py"))).read().decode("utf-8")
    return {n.split("/", 1)[1] for n in names}, pkg_info, version_py


@pytest.fixture(scope="module")
def wheel_files(dists):
    with zipfile.ZipFile(dists[1]) as z:
        names = set(z.namelist())
        info = next(n for n in names if re.fullmatch(r"pygru-[^/]+\.dist-info/METADATA", n))
        metadata = z.read(info).decode("utf-8")
        version_py = z.read("pygru/_version.py").decode("utf-8")
    return names, metadata, version_py


def tree_packages():
    """Every package of the tree: pygru and each folder below it with an __init__.py."""
    return sorted(str(p.parent.relative_to(ROOT)).replace(os.sep, "/")
                  for p in (ROOT / "pygru").rglob("__init__.py")
                  if "__pycache__" not in p.parts)


def tree_modules():
    return sorted("%s/%s" % (pkg, p.name) for pkg in tree_packages()
                  for p in (ROOT / pkg).glob("*.py"))


def check_metadata(text):
    msg = email.parser.Parser().parsestr(text)
    assert msg["Name"] == "pygru"
    assert msg["Version"] == header_version()
    assert msg["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in (msg.get_all("License-File") or [])
    requires = [r for r in msg.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(re.split(r"[ <>=;\[]", r)[0] for r in requires) == ["cffi", "numpy"]


def test_sdist_has_what_building_needs(sdist_files):
    names, _, _ = sdist_files
    needed = {"LICENSE", "README.md", "CHANGELOG.md", "build_ffi.py", "setup.py",
              "pyproject.toml", "MANIFEST.in", "c/Makefile", "c/gru.pc.in",
              "pygru/py.typed", "pygru/_version.py"}
    needed |= {str(p.relative_to(ROOT)).replace(os.sep, "/")
               for pattern in ("c/include/*.h", "c/src/*.c", "c/src/*.h", "c/src/kernels/*.c",
                               "c/src/kernels/*.h", "pygru/data/*.csv")
               for p in ROOT.glob(pattern)}
    needed |= set(tree_modules())
    assert not needed - names, "missing from the sdist: %s" % sorted(needed - names)


def test_sdist_has_no_build_products(sdist_files):
    names, _, _ = sdist_files
    products = [n for n in names if re.search(r"\.(so|pyd|dylib|o|a|pyc|whl)$", n)
                or n.endswith("_libgru.c") or n.startswith(("build/", "dist/", "tests/"))]
    assert not products, products


def test_sdist_metadata(sdist_files):
    _, pkg_info, version_py = sdist_files
    check_metadata(pkg_info)
    assert "read_header_version" in version_py   # the sdist parses gru.h when built


def test_wheel_has_every_package_and_the_data(wheel_files):
    names, _, _ = wheel_files
    needed = set(tree_modules()) | {"pygru/py.typed"}
    needed |= {"pygru/data/" + p.name for p in (ROOT / "pygru" / "data").glob("*.csv")}
    assert not needed - names, "missing from the wheel: %s" % sorted(needed - names)
    assert [n for n in names if re.fullmatch(r"pygru/_libgru\.[^/]*(so|pyd)", n)]
    assert [n for n in names if re.fullmatch(r"pygru-[^/]+\.dist-info/licenses/LICENSE", n)]
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith((".dist-info", ".libs"))} == {"pygru"}, top


def test_wheel_metadata_and_tag(dists, wheel_files):
    _, metadata, _ = wheel_files
    check_metadata(metadata)
    # cffi builds for the limited API: one wheel for every CPython >= 3.9
    m = re.fullmatch(r"pygru-([^-]+)-([^-]+)-([^-]+)-(.+)\.whl", dists[1].name)
    assert m and m.group(1) == header_version()
    assert (m.group(2), m.group(3)) == ("cp39", "abi3"), dists[1].name


def test_wheel_version_module_is_a_literal(wheel_files):
    _, _, version_py = wheel_files
    namespace = {}
    exec(compile(version_py, "pygru/_version.py (wheel)", "exec"), namespace)
    assert namespace["__version__"] == header_version()
    assert "gru.h" not in version_py.split('"""', 2)[-1]   # nothing parses a header
