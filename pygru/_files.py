"""pygru._files - how pygru writes a file: atomically. Used by model files
(modelfile.py), histories (progress.py) and plots (plot.py).

write_atomic(path, write) calls write(f) on a new binary file beside path (opened with
O_EXCL, so never someone else's; mode 0666 less the umask, like any new file, where
tempfile.mkstemp would give 0600), flushes and fsyncs it, renames it over path, then
fsyncs the folder so that the rename itself is durable. A crash or an exception leaves
path complete or untouched (the temporary file is removed on an exception).
"""
import os


def write_atomic(path, write, make_parents=False):
    """See the module docstring. make_parents: create missing parent folders first.
    Returns path."""
    folder = os.path.dirname(os.path.abspath(path))
    if make_parents:
        os.makedirs(folder, exist_ok=True)
    while True:
        tmp = os.path.join(folder, ".%s.%d.%s.tmp" % (os.path.basename(path), os.getpid(),
                                                     os.urandom(6).hex()))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:   # pragma: no cover - a 48-bit collision
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
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
