"""pygru._files - how pygru writes a file: atomically. Used by model files
(modelfile.py), histories (progress.py) and plots (plot.py).

write_atomic(path, write) calls write(f) on a new binary file in path's folder, flushes
and fsyncs it, puts it in place of path with one rename, then fsyncs the folder so that
the rename itself is durable. Guarantees:

  * path is always either its old complete content or the new complete content, even
    if the process is killed (SIGKILL, power loss after the fsyncs) at any moment;
  * no debris: on Linux the new file is first an unnamed file (O_TMPFILE), which the
    kernel frees if the process dies before it is named; it gets a name only for the
    instant between link and rename. Elsewhere (or on a filesystem without O_TMPFILE)
    it is a named temporary. Either way the temporary's name is short and fixed in
    length (".pygru-<8 hex of the target's name>-<pid>-<12 hex>.tmp"), and every save
    removes the temporaries that earlier saves of the same target left when they were
    killed (only those whose pid is no longer alive; not on Windows, where pygru cannot
    tell);
  * the mode is kept: an existing file keeps its permission bits (0600 stays 0600;
    set-uid, set-gid and sticky bits are dropped) and, where allowed, its owner and
    group; a new file gets 0666 less the umask, like any new file;
  * a symbolic link is followed: the file it points to (through any chain of links)
    is replaced atomically, in that file's folder, and the link itself stays; a
    dangling link gets its target created;
  * only regular files are replaced: a directory, device node, FIFO or socket at path
    (or at the end of its links) raises ValueError naming the path and what it is, and
    nothing is written;
  * names up to the filesystem's limit (255 bytes) work: the temporary's name does not
    grow with the target's.
On an exception (from write or from the system) the temporary is removed and path is
untouched. Not kept: extended attributes and ACLs, and other hard links to the old
file (they keep the old content). If someone swaps path for something else while a
save runs, the checks above can be outrun; that is a race between two writers.
"""
import errno
import hashlib
import os
import re
import stat

#: False makes every save use a named temporary (tests use it to exercise that path)
_USE_O_TMPFILE = hasattr(os, "O_TMPFILE")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_PREFIX = ".pygru-"
_TEMP_NAME = re.compile(r"^\.pygru-([0-9a-f]{8})-([0-9]+)-[0-9a-f]{12}\.tmp$")

_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO (named pipe)"),
          (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symbolic link that cannot be followed"))


def _kind(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return "special file (mode %o)" % stat.S_IFMT(mode)   # pragma: no cover - door, port


def _tag(target):
    """8 hex digits naming the target among the temporaries of its folder."""
    return hashlib.sha256(os.fsencode(os.path.basename(target))).hexdigest()[:8]


def _temp_name(folder, tag):
    return os.path.join(folder, "%s%s-%d-%s.tmp" % (_PREFIX, tag, os.getpid(),
                                                  os.urandom(6).hex()))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True    # someone else's process (or a pid os.kill cannot take): keep it
    return True


def _remove_stale_temporaries(folder, tag):
    """Removes the temporaries of earlier saves of this target whose process is gone."""
    if os.name == "nt":   # pragma: no cover - os.kill(pid, 0) would end that process
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    me = os.getpid()
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m is None or m.group(1) != tag:
            continue
        pid = int(m.group(2))
        if pid == me or _pid_alive(pid):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass


def _resolve(path):
    """The file to replace: path with its symbolic links followed; its lstat (None if
    it does not exist yet). Refuses anything but a regular file."""
    try:
        os.stat(path)
    except FileNotFoundError:
        pass     # a new file, or a dangling link whose target is created
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("%s is a %s (a loop of symbolic links); nothing was written"
                             % (path, _kind(stat.S_IFLNK))) from None
        raise
    real = os.path.realpath(path)
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        return real, None
    if not stat.S_ISREG(st.st_mode):
        where = path if os.path.abspath(path) == real else "%s (-> %s)" % (path, real)
        raise ValueError("%s is a %s, not a regular file: pygru replaces only regular "
                         "files; nothing was written" % (where, _kind(st.st_mode)))
    return real, st


def _open_unnamed(folder):
    """An O_TMPFILE descriptor in folder, or None where that is not supported."""
    if not _USE_O_TMPFILE:
        return None
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY | _O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP):
            return None
        raise
    if not os.path.exists("/proc/self/fd/%d" % fd):   # no /proc: it could not be named
        os.close(fd)
        return None
    return fd


def _open_named(folder, tag):
    while True:
        tmp = _temp_name(folder, tag)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
                         | _O_NOFOLLOW, 0o666)
            return fd, tmp
        except FileExistsError:   # pragma: no cover - a 48-bit collision
            continue


def _link_unnamed(fd, folder, tag):
    """Gives the O_TMPFILE file behind fd a (temporary) name in folder: linkat with
    AT_SYMLINK_FOLLOW on /proc/self/fd/N (os.link uses linkat, which follows, only when
    given a dir_fd; plain link() would try to link the /proc symlink itself)."""
    dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
    try:
        while True:
            tmp = _temp_name(folder, tag)
            try:
                os.link("/proc/self/fd/%d" % fd, os.path.basename(tmp), dst_dir_fd=dfd,
                        follow_symlinks=True)
                return tmp
            except FileExistsError:   # pragma: no cover - a 48-bit collision
                continue
    finally:
        os.close(dfd)


def _keep_owner_and_mode(fd, st):
    if st is None:
        return     # a new file: 0666 less the umask, from open
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass   # not allowed (not root): the new file is ours, as any new file
    if hasattr(os, "fchmod"):   # pragma: no branch - absent on Windows before 3.13
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)   # after fchown, which may clear bits


def write_atomic(path, write, make_parents=False):
    """See the module docstring. make_parents: create missing parent folders first.
    Returns path."""
    real, st = _resolve(os.fsdecode(os.fspath(path)))   # str, bytes or path-like
    folder = os.path.dirname(real)
    if make_parents:
        os.makedirs(folder, exist_ok=True)
    tag = _tag(real)
    _remove_stale_temporaries(folder, tag)

    tmp = None
    fd = _open_unnamed(folder)
    if fd is None:
        fd, tmp = _open_named(folder, tag)
    try:
        with os.fdopen(fd, "wb") as f:
            _keep_owner_and_mode(f.fileno(), st)
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if tmp is None:
                tmp = _link_unnamed(f.fileno(), folder, tag)
        os.replace(tmp, real)
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    try:   # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:   # pragma: no cover - folders that cannot be opened (Windows)
        pass
    return path
