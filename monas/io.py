"""Files of a run folder, written so that a kill at any moment leaves each file either as
it was or complete, and never through a symbolic link.

Every command writes its run folder through these functions only: ``atomic_write``
(temporary file, fsync, rename), ``append_line`` (one fsynced line of a JSON-lines log,
opened with ``O_NOFOLLOW``), ``repair_torn_tail`` (before appending to a log a kill may
have torn), ``read_lines`` (the complete lines, a torn last one
dropped), ``RunLock`` (one writer per folder), ``refuse_links``, ``SetAside`` (an old run moved
out of the way, deleted only once the new one has started) and ``RunClaim`` (folder,
lock and set-aside together, undone when a run fails to start).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from monas.errors import RunDirError

TMP_SUFFIX = ".tmp"
LOCK_FILE = ".monas.lock"
ASIDE_PREFIX = ".replaced-"
_UMASK = os.umask(0)
os.umask(_UMASK)


_writes: dict[str, int] = {}


def _injected_kill(name: str, f, payload: bytes) -> None:
    """Fault injection for the kill tests: with ``MONAS_KILL_DURING=<file>:<n>`` the
    process SIGKILLs itself halfway through the n-th write of that file."""
    target, _, nth = os.environ.get("MONAS_KILL_DURING", "").partition(":")
    if target != name:
        return
    _writes[name] = _writes.get(name, 0) + 1
    if str(_writes[name]) == nth:
        f.write(payload[: len(payload) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` via a fsynced temporary file in the same folder.

    The temporary file is created exclusively under a fresh name and renamed over
    ``path``; a symbolic link at ``path`` is replaced by the file, never written through.
    """
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            _injected_kill(path.name, f, payload)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def append_line(path: Path, record: dict) -> None:
    """Append ``record`` to the JSON-lines file ``path`` as one line, in a single write,
    and fsync it: after a kill the file ends with the complete line or a torn one.
    RunDirError when ``path`` is a symbolic link (dangling or not): nothing is written."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunDirError(f"{path} is a symbolic link; monas writes no file through a link") from None
        raise
    with os.fdopen(fd, "ab") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def repair_torn_tail(path: Path) -> None:
    """Cut a torn last line (a kill in the middle of ``append_line``) off the JSON-lines
    file ``path``, so that the next append starts a line of its own. Only under
    ``RunLock``; nothing happens when the file is missing or ends with a newline.
    RunDirError when ``path`` is a symbolic link."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunDirError(f"{path} is a symbolic link; monas writes no file through a link") from None
        raise
    with os.fdopen(fd, "r+b") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


def read_lines(path: Path, parse: Callable[[dict], Any] = dict) -> list:
    """``parse`` of every complete line of the JSON-lines file ``path`` ([] when it does
    not exist); a torn last line (a kill mid-write) is dropped, any other bad line is a
    RunDirError."""
    if not path.exists():
        return []
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is unreadable: {exc}") from None
    for number, line in enumerate(lines, 1):
        try:
            records.append(parse(json.loads(line)))
        except (json.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError) as exc:
            if number == len(lines) and not line.endswith("\n"):
                break
            raise RunDirError(f"{path} line {number} is corrupt: {exc}") from None
    return records


def refuse_links(folder: Path, names: Iterable[str] | None = None) -> None:
    """RunDirError when ``folder`` itself, or any of ``names`` in it (default: every
    entry), is a symbolic link: a run folder holds plain files only."""
    folder = Path(folder)
    if folder.is_symlink():
        raise RunDirError(f"{folder} is a symbolic link; give the real folder")
    if not folder.is_dir():
        return
    entries = [folder / n for n in names] if names is not None else list(folder.iterdir())
    for entry in entries:
        if entry.is_symlink():
            raise RunDirError(f"{entry} is a symbolic link; monas writes no file through a link (remove it)")


def discard_interrupted_writes(folder: Path) -> None:
    """Remove temporary files of writes a kill interrupted. Only under ``RunLock``: the
    lock guarantees no other process is writing them."""
    for leftover in Path(folder).glob(f".*{TMP_SUFFIX}"):
        leftover.unlink()


class RunLock:
    """An exclusive advisory lock (``flock``) on a run folder, held while a process
    writes it. A second process gets RunDirError naming the holder's pid. The lock file
    (``name``, by default ``.monas.lock``, holding the pid) stays; the lock itself ends with the process,
    however it ends."""

    def __init__(self, folder: Path, name: str = LOCK_FILE) -> None:
        self.path = Path(folder) / name
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise RunDirError; the folder must exist."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RunDirError(f"{self.path} is a symbolic link; monas writes no file through a link") from None
            raise RunDirError(f"cannot lock {self.path.parent}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(
                f"{self.path.parent} is in use by another monas process (pid {holder}); wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class SetAside:
    """The files of an old run, moved into a hidden folder inside the run folder so that
    ``--overwrite`` loses nothing until the new run has started: ``discard()`` deletes
    them then, ``restore()`` puts them back if the new run fails to start."""

    def __init__(self, folder: Path, names: Iterable[str]) -> None:
        self.folder = Path(folder)
        self.aside = Path(tempfile.mkdtemp(dir=self.folder, prefix=ASIDE_PREFIX))
        self.names: list[str] = []
        for name in names:
            os.replace(self.folder / name, self.aside / name)
            self.names.append(name)

    def restore(self) -> None:
        """Move the old files back, over anything the new run wrote under their names."""
        for name in self.names:
            target = self.folder / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(self.aside / name, target)
        self.aside.rmdir()

    def discard(self) -> None:
        """Delete the old files for good."""
        shutil.rmtree(self.aside)


class RunClaim:
    """A run's output held by this process, from its start to its end.

    On creation: the folder is made when missing (parents too), refused if ``files`` or
    the lock file in it are symbolic links, locked (``RunLock``, lock file ``lock_name``),
    cleared of temporary files a kill left, and the old run's files ``replace`` moved
    aside (``SetAside``). ``start()`` says the new run has recorded something: the old
    files go for good. ``close(failed=True)`` before ``start`` puts everything back as
    it was: the new ``files`` deleted, the old ones restored, a lock file and folders
    this claim created removed; ``close(failed=False)`` before ``start`` keeps the old
    run too. With ``fresh=False`` (a resumed run) the claim counts as started from the
    beginning. With ``remove_lock`` the lock file goes on every close and temporary
    files are left alone (use it where the folder is not the run's own, e.g. a file's
    parent). Usable as a context manager
    (an exception means failed). RunDirError, with nothing left behind, when the
    folder cannot be created or another process holds it.
    """

    def __init__(
        self,
        folder: Path,
        fresh: bool,
        files: Iterable[str],
        replace: Iterable[str] = (),
        lock_name: str = LOCK_FILE,
        remove_lock: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.remove_lock = remove_lock
        self.files = tuple(files)
        self.aside: SetAside | None = None
        self.started = not fresh
        self._lock_path = self.folder / lock_name
        self._created = [p for p in (self.folder, *self.folder.absolute().parents) if not p.exists()][::-1]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            refuse_links(self.folder, [*self.files, lock_name])
            self._lock_existed = self._lock_path.exists()
            self.lock = RunLock(self.folder, lock_name).acquire()
        except (OSError, RunDirError) as exc:  # another process's folder: touch none of its files
            self._remove_created()
            if isinstance(exc, RunDirError):
                raise
            raise RunDirError(f"cannot create {self.folder}: {exc.strerror}") from None
        try:
            if not remove_lock:  # the run's own folder: its temporary files are the run's
                discard_interrupted_writes(self.folder)
            self.set_aside(replace)
        except BaseException:
            self.close(failed=True)
            raise

    def set_aside(self, names: Iterable[str]) -> None:
        """Move the old run's files ``names`` out of the way until ``start``."""
        names = list(names)
        if names:
            self.aside = SetAside(self.folder, names)

    def start(self) -> None:
        """The new run has recorded something: the old run's files go for good."""
        if not self.started:
            self.started = True
            if self.aside is not None:
                self.aside.discard()
                self.aside = None

    def close(self, failed: bool) -> None:
        """Release the lock; before ``start``, put the old run back (and after a
        failure, delete what the new run wrote) first."""
        undo = failed and not self.started
        if undo:
            for name in self.files:
                path = self.folder / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.is_file() and not path.is_symlink():
                    path.unlink()
            if not self.remove_lock:
                discard_interrupted_writes(self.folder)
        if self.aside is not None:
            self.aside.restore()
            self.aside = None
        if self.remove_lock or (undo and not self._lock_existed):
            self._lock_path.unlink(missing_ok=True)
        self.lock.release()
        if undo:
            self._remove_created()

    def __enter__(self) -> "RunClaim":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break
