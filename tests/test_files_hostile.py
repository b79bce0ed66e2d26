"""pygru._files.write_atomic against killed saves and odd targets (issue 11, finding 13):
SIGKILL at random moments leaves no debris and the old or the new complete file; the
mode (and, as root, the owner) of an existing file is kept; symbolic links are followed
and stay links; device nodes, FIFOs, sockets and directories are refused and left
intact; names of 255 bytes work. Both ways of making the new file are tested: the
unnamed O_TMPFILE (Linux) and the named temporary (elsewhere, or where a filesystem
lacks O_TMPFILE).
"""
import errno
import hashlib
import os
import random
import re
import socket
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pygru
from pygru import _files
from pygru._files import write_atomic
from pygru.progress import History

TEMP = re.compile(r"^\.pygru-[0-9a-f]{8}-[0-9]+-[0-9a-f]{12}\.tmp$")
LINUX = sys.platform.startswith("linux")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(params=["o_tmpfile", "named"])
def way(request, monkeypatch):
    """Runs a test once per way of making the new file."""
    if request.param == "o_tmpfile":
        if not (LINUX and hasattr(os, "O_TMPFILE")):
            pytest.skip("O_TMPFILE is Linux-only")
        monkeypatch.setattr(_files, "_USE_O_TMPFILE", True, raising=False)
    else:
        monkeypatch.setattr(_files, "_USE_O_TMPFILE", False, raising=False)
    return request.param


def put(data):
    return lambda f: f.write(data)


def listing(folder):
    return sorted(os.listdir(folder))


# ---- killed saves -----------------------------------------------------------------------

BLOCK = 1 << 20
SIZE_MB = 50


def content(tag):
    """50 MB, distinct per tag, written 1 MB at a time by the child."""
    return hashlib.sha256(tag).digest() * (BLOCK // 32)


# The child loads _files.py by path (no numpy, no C library: it starts in ~30 ms), says
# "ready", then saves A and B (50 MB each) over the target in turns until it is killed.
CHILD = textwrap.dedent("""
    import hashlib, importlib.util, sys
    spec = importlib.util.spec_from_file_location("pygru_files_under_test", sys.argv[1])
    files = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(files)
    files._USE_O_TMPFILE = sys.argv[3] == "o_tmpfile"
    blocks = {t: hashlib.sha256(t).digest() * (%d // 32) for t in (b"A", b"B")}
    def writer(tag):
        def write(f):
            for _ in range(%d):
                f.write(blocks[tag])
        return write
    print("ready", flush=True)
    while True:
        for tag in (b"A", b"B"):
            files.write_atomic(sys.argv[2], writer(tag))
""" % (BLOCK, SIZE_MB))


def test_killed_saves_leave_no_debris_and_a_complete_file(tmp_path, way):
    target = tmp_path / "model.bin"
    old = b"the old complete content\n"
    target.write_bytes(old)
    os.chmod(target, 0o640)
    complete = {old: "old", content(b"A") * SIZE_MB: "A", content(b"B") * SIZE_MB: "B"}
    rng = random.Random(11)
    seen, kills, stale_seen = set(), 0, 0
    deadline = time.monotonic() + 5.0
    while kills < 25 and time.monotonic() < deadline:
        child = subprocess.Popen([sys.executable, "-c", CHILD, _files.__file__, str(target),
                                  way], stdout=subprocess.PIPE)
        try:
            assert child.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.25))      # up to three 50 MB saves, cut anywhere
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        assert child.returncode == -9, "the saving child failed before it was killed"
        kills += 1
        data = target.read_bytes()
        assert data in complete, "a torn file: %d bytes" % len(data)
        seen.add(complete[data])
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
        others = [n for n in listing(tmp_path) if n != "model.bin"]
        # at most the temporary of the save just killed: each save removes the earlier ones
        assert all(TEMP.match(n) for n in others), others
        assert len(others) <= 1, others
        stale_seen += len(others)
    assert kills >= 10, "only %d kills in the time allowed" % kills
    assert seen - {"old"}, "no save ever completed; the kills came too early"
    write_atomic(target, put(b"done"))               # a later save cleans up after them
    assert listing(tmp_path) == ["model.bin"]
    assert target.read_bytes() == b"done"
    print("%s: %d kills, contents seen %s, %d temporaries left by a kill (then removed)"
          % (way, kills, sorted(seen), stale_seen))


def test_stale_temporaries_only_of_dead_saves_of_the_same_target_are_removed(tmp_path, way):
    target = tmp_path / "m.bin"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    # a temporary is named .pygru-<first 8 hex of sha256(target's name)>-<pid>-<12 hex>.tmp
    tag = hashlib.sha256(b"m.bin").hexdigest()[:8]
    other_tag = hashlib.sha256(b"other.bin").hexdigest()[:8]
    names = {
        "dead": ".pygru-%s-%d-%s.tmp" % (tag, dead_pid, "0" * 12),
        "alive": ".pygru-%s-%d-%s.tmp" % (tag, os.getppid(), "1" * 12),
        "mine": ".pygru-%s-%d-%s.tmp" % (tag, os.getpid(), "2" * 12),   # another thread's
        "other target": ".pygru-%s-%d-%s.tmp" % (other_tag, dead_pid, "3" * 12),
        "unrelated": "notes.tmp",
    }
    for n in names.values():
        (tmp_path / n).write_bytes(b"x")
    write_atomic(target, put(b"new"))
    left = set(listing(tmp_path))
    assert names["dead"] not in left
    assert {names["alive"], names["mine"], names["other target"], names["unrelated"],
            "m.bin"} == left


def test_an_exception_leaves_the_old_file_and_no_debris(tmp_path, way):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"half of it")
        raise RuntimeError("write failed")
    with pytest.raises(RuntimeError, match="write failed"):
        write_atomic(target, fail)
    assert listing(tmp_path) == ["m.bin"] and target.read_bytes() == b"old"


def test_o_tmpfile_unsupported_falls_back_to_a_named_temporary(tmp_path, monkeypatch):
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE here: the named temporary is the only way")
    real_open, used = os.open, []

    def no_tmpfile(path, flags, *args, **kwargs):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)
        used.append(os.path.basename(path))
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(_files, "_USE_O_TMPFILE", True, raising=False)
    monkeypatch.setattr(os, "open", no_tmpfile)
    write_atomic(tmp_path / "m.bin", put(b"data"))
    assert (tmp_path / "m.bin").read_bytes() == b"data"
    assert listing(tmp_path) == ["m.bin"] and any(TEMP.match(n) for n in used)


# ---- modes and owners -------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_an_existing_files_mode_is_kept(tmp_path, way, mode):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    os.chmod(target, mode)
    old_umask = os.umask(0o022)
    try:
        write_atomic(target, put(b"new"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, way, umask, mode):
    old_umask = os.umask(umask)
    try:
        write_atomic(tmp_path / "m.bin", put(b"new"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(tmp_path / "m.bin").st_mode) == mode


@pytest.mark.skipif(not ROOT, reason="only root can give a file to someone else")
def test_as_root_an_existing_files_owner_is_kept(tmp_path, way):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    os.chown(target, 12345, 23456)
    os.chmod(target, 0o600)
    write_atomic(target, put(b"new"))
    st = os.stat(target)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 23456, 0o600)


def test_a_model_saved_over_a_0600_file_stays_0600(tmp_path):
    path = tmp_path / "m.safetensors"
    pygru.GRU(2, 3, seed=1).save(path)
    os.chmod(path, 0o600)
    new = pygru.GRU(2, 3, seed=2)
    new.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert np.array_equal(pygru.load(path).weight_ih_l0, new.weight_ih_l0)


# ---- symbolic links ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["relative, same folder", "relative, other folder",
                                  "absolute, other folder", "chain of two links"])
def test_a_symlink_is_followed_and_stays(tmp_path, way, kind):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    if kind == "relative, same folder":
        real, link_text = here / "real.bin", "real.bin"
    elif kind == "relative, other folder":
        real, link_text = there / "real.bin", os.path.join("..", "there", "real.bin")
    else:
        real, link_text = there / "real.bin", str(there / "real.bin")
    real.write_bytes(b"old")
    os.chmod(real, 0o600)
    link = here / "link.bin"
    if kind == "chain of two links":
        os.symlink(link_text, there / "middle.bin")
        os.symlink(str(there / "middle.bin"), link)
    else:
        os.symlink(link_text, link)
    before = {p: os.readlink(p) for p in (link, there / "middle.bin") if os.path.islink(p)}

    assert write_atomic(link, put(b"new")) == link
    assert {p: os.readlink(p) for p in before} == before          # the links stay
    assert real.read_bytes() == b"new" and link.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600
    for folder in (here, there):
        assert not [n for n in listing(folder) if TEMP.match(n)]


def test_a_dangling_symlink_gets_its_target_created(tmp_path, way):
    os.mkdir(tmp_path / "there")
    link = tmp_path / "link.bin"
    os.symlink(os.path.join("there", "new.bin"), link)
    write_atomic(link, put(b"data"))
    assert os.path.islink(link) and (tmp_path / "there" / "new.bin").read_bytes() == b"data"


def test_a_symlink_loop_is_refused(tmp_path, way):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(ValueError, match=r"a\b.* is a symbolic link that cannot be followed"):
        write_atomic(tmp_path / "a", put(b"data"))
    assert listing(tmp_path) == ["a", "b"] and os.readlink(tmp_path / "a") == "b"


# ---- what is not a regular file is refused ----------------------------------------------

def _make_char_device(path):
    if not ROOT:
        pytest.skip("only root can make a device node")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))     # what /dev/null is


def _make_block_device(path):
    if not ROOT:
        pytest.skip("only root can make a device node")
    os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 200))   # a loop device, never opened


def _make_socket(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


NOT_REGULAR = {
    "character device": _make_char_device,
    "block device": _make_block_device,
    "FIFO": lambda p: os.mkfifo(p),
    "socket": _make_socket,
    "directory": lambda p: os.mkdir(p),
}


@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
@pytest.mark.parametrize("through_link", [False, True])
def test_non_regular_targets_are_refused_and_left_intact(tmp_path, way, kind, through_link):
    node = tmp_path / "node"
    NOT_REGULAR[kind](node)
    before = os.lstat(node)
    path = node
    if through_link:
        path = tmp_path / "link"
        os.symlink("node", path)
    called = []
    with pytest.raises(ValueError, match=r"%s.* is a %s.*, not a regular file.*nothing was "
                                         r"written" % (re.escape(str(path)), kind)):
        write_atomic(path, called.append)
    assert called == []
    after = os.lstat(node)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino,
                                                            before.st_rdev)
    assert listing(tmp_path) == sorted(["node"] + (["link"] if through_link else []))


def test_saving_a_model_to_a_device_node_is_refused(tmp_path):
    node = tmp_path / "null"
    _make_char_device(node)
    with pytest.raises(ValueError, match="null is a character device"):
        pygru.GRU(2, 3).save(node)
    assert stat.S_ISCHR(os.lstat(node).st_mode) and listing(tmp_path) == ["null"]


# ---- long names -------------------------------------------------------------------------

@pytest.mark.parametrize("length", [240, 250, 255])
def test_names_up_to_255_bytes_work(tmp_path, way, length):
    name = "m" * (length - len(".bin")) + ".bin"
    write_atomic(tmp_path / name, put(b"one"))
    write_atomic(tmp_path / name, put(b"two"))          # over an existing file too
    assert listing(tmp_path) == [name] and (tmp_path / name).read_bytes() == b"two"


def test_a_model_and_a_history_save_under_a_255_byte_name(tmp_path):
    name = "é" * 60 + "m" * (255 - 120 - len(".safetensors")) + ".safetensors"
    assert len(os.fsencode(name)) == 255
    model = pygru.GRU(2, 3, seed=4)
    model.save(tmp_path / name)
    assert np.array_equal(pygru.load(tmp_path / name).weight_hh_l0, model.weight_hh_l0)
    history = History()
    history.log(1, train_loss=0.5)
    hname = "h" * (255 - len(".json")) + ".json"
    history.save(tmp_path / hname)
    assert History.load(tmp_path / hname).records == history.records
    assert listing(tmp_path) == sorted([name, hname])


def test_str_bytes_and_path_objects_name_the_same_file(tmp_path, way):
    for i, path in enumerate([str(tmp_path / "m.bin"), os.fsencode(tmp_path / "m.bin"),
                              tmp_path / "m.bin"]):
        assert write_atomic(path, put(b"%d" % i)) is path
        assert listing(tmp_path) == ["m.bin"] and (tmp_path / "m.bin").read_bytes() == b"%d" % i
