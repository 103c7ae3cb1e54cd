"""The on-disk cache: generated kernels, and rule files already parsed and
checked against their schema, so that a repeated `marginspec evaluate`
neither re-parses YAML nor imports sympy.

The folder is $MARGINSPEC_CACHE_DIR, else $XDG_CACHE_HOME/marginspec, else
~/.cache/marginspec. Like __pycache__ it holds code that will be run, so it
is trusted only as far as its owner, and every entry is checked before use:

- the folder is created 0700; it is refused (with one warning, and nothing is
  cached in this process) when it is a symbolic link, is owned by another
  user, or is writable by group or others, as OpenSSH and pip refuse such
  folders. It is opened once and every entry is reached through that open
  folder, so a folder swapped afterwards is not followed;
- an entry is a regular file owned by the user, opened without following a
  symbolic link; its first line records the sha256 of its name and body, taken
  when it was written, and an entry that does not match is deleted and
  rebuilt. The name binds the entry to what it was built from (the hash of
  the engine's own files and of the rule file's bytes), so an entry edited,
  appended to, truncated, or copied from another rule set fails the check;
- an entry is written to a fresh temporary file in the folder, flushed to
  disk and renamed over the old one; a write that fails (full disk, read-only
  folder) removes its temporary file, warns once, and the process goes on
  without caching (compiling in memory: no temporary folder is made).

The hash line does not stop someone who can write to the folder and
recompute it: that is what the ownership and permission check is for. Only
the user and root can write to a folder the check accepts, and both can
already change the installed package itself. Entries are JSON or generated
Python; nothing is unpickled. POSIX only: elsewhere nothing is cached."""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import secrets
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .version import __version__

CACHE_ENV = "MARGINSPEC_CACHE_DIR"
MAX_ENTRY_BYTES = 256_000_000  # far above what a 2 MB rule file makes (a document entry is ~3x its YAML)
_HEADER = re.compile(rb"# marginspec cache entry sha256=([0-9a-f]{64})\n")
_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at an entry's name must not hang the read


class CacheWarning(UserWarning):
    """The cache folder cannot be used as it is; marginspec works without it (more slowly)."""


@dataclass
class Folder:
    """The cache folder, open: every entry is reached relative to `fd`, never by path."""

    path: Path
    fd: int
    writable: bool = True


_warned: set[str] = set()


def _warn(kind: str, message: str) -> None:
    """One warning per kind per process: a full disk says so once, not once per entry."""
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(message, CacheWarning, stacklevel=3)


def configured_path() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marginspec"


def _make(path: Path) -> bool:
    """Create `path` and any missing parent 0700 (whatever the umask); True when the folder itself was created."""
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            pass
    return bool(missing) and missing[0] == path


def _distrust(st: os.stat_result) -> str | None:
    """Why a folder (or entry) with this status is not the user's own, or None when it is."""
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"it is owned by user {_user(st.st_uid)}, not by you ({_user(uid)})"
    if st.st_mode & 0o022:
        who = " and ".join(w for w, bit in (("group", 0o020), ("others", 0o002)) if st.st_mode & bit)
        return f"it is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}; `chmod 700` it to use it)"
    return None


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


@functools.cache
def folder() -> Folder | None:
    """The cache folder, opened and checked; None (after one warning) when it cannot be trusted or made."""
    if not hasattr(os, "geteuid") or os.open not in os.supports_dir_fd:
        return None
    try:
        path = configured_path()
    except RuntimeError as exc:  # no home folder to put ~/.cache in
        _warn("folder", f"no cache folder ({exc}); set {CACHE_ENV} to cache compiled rule sets")
        return None
    try:
        created = _make(path)
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        reason = "it is a symbolic link" if os.path.islink(path) else exc.strerror
        _warn("folder", f"cache folder {path} is not used: {reason}; nothing is cached in this run")
        return None
    if created:
        os.fchmod(fd, 0o700)
    problem = _distrust(os.fstat(fd))
    if problem:
        os.close(fd)
        _warn("folder", f"cache folder {path} is not used: {problem}. Nothing is cached in this run; "
              f"set {CACHE_ENV} to a folder of your own to cache compiled rule sets")
        return None
    return Folder(path, fd)


def entry_path(name: str) -> Path | None:
    """Where an entry lives (for messages), or None when there is no cache folder."""
    f = folder()
    return f.path / name if f else None


def _digest(name: str, body: bytes) -> str:
    return hashlib.sha256(name.encode() + b"\0" + body).hexdigest()


def read_entry(name: str) -> bytes | None:
    """The body of an entry as written, or None when it is absent; an entry that is not a regular file of
    the user's, or does not match the hash recorded when it was written, is deleted (and so rebuilt)."""
    if not _ENTRY_NAME.fullmatch(name):
        raise ValueError(f"not a cache entry name: {name!r}")
    f = folder()
    if f is None:
        return None
    data = _read(f, name)
    if isinstance(data, str):
        _discard(f, name, data)
        return None
    if data is None:
        return None
    m = _HEADER.match(data)
    if m is None or m.group(1).decode() != _digest(name, data[m.end():]):
        _discard(f, name, "it does not match the hash recorded when it was written")
        return None
    return data[m.end():]


def _read(f: Folder, name: str) -> bytes | str | None:
    """The entry's bytes; None when there is none; or why it is not to be read."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=f.fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return "it is a symbolic link" if exc.errno == errno.ELOOP else f"it cannot be read ({exc.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "it is not a regular file"
        if st.st_size > MAX_ENTRY_BYTES:
            return f"it is larger than {MAX_ENTRY_BYTES} bytes"
        problem = _distrust(st)
        if problem:
            return problem
        chunks, left = [], st.st_size + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    finally:
        os.close(fd)


def _discard(f: Folder, name: str, why: str) -> None:
    _warn("entry", f"cache entry {f.path / name} is discarded and rebuilt: {why}")
    try:
        os.unlink(name, dir_fd=f.fd)
    except OSError:
        pass  # a read-only folder: the entry is ignored and rebuilt in memory


def discard(name: str, why: str) -> None:
    """Delete an entry that passed its hash check but could not be used (it is rebuilt)."""
    f = folder()
    if f is not None:
        _discard(f, name, why)


def write_entry(name: str, body: bytes) -> None:
    """Store an entry atomically (temporary file, fsync, rename); on failure warn once and carry on uncached."""
    if not _ENTRY_NAME.fullmatch(name):
        raise ValueError(f"not a cache entry name: {name!r}")
    f = folder()
    if f is None or not f.writable:
        return
    data = b"# marginspec cache entry sha256=" + _digest(name, body).encode() + b"\n" + body
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=f.fd)
    except OSError as exc:
        _cannot_write(f, exc)
        return
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=f.fd, dst_dir_fd=f.fd)
    except OSError as exc:
        try:
            os.unlink(tmp, dir_fd=f.fd)
        except OSError:
            pass
        _cannot_write(f, exc)


def _cannot_write(f: Folder, exc: OSError) -> None:
    f.writable = False
    _warn("write", f"cannot write to the cache folder {f.path} ({exc.strerror}); compiling in memory, "
          "nothing new is cached in this run")


@functools.cache
def engine_fingerprint() -> bytes:
    """Hash of the engine's own source and schemas, every module of every subpackage: any change to the
    code invalidates the cache."""
    h = hashlib.sha256(__version__.encode())
    here = Path(__file__).resolve().parent
    for path in fingerprint_files():
        h.update(str(path.relative_to(here)).encode() + b"\0" + path.read_bytes())
    return h.digest()


def fingerprint_files() -> list[Path]:
    here = Path(__file__).resolve().parent
    return sorted(list(here.rglob("*.py")) + list(here.rglob("*.json")))


def key_of(*parts: str | bytes) -> str:
    h = hashlib.sha256(engine_fingerprint())
    for p in parts:
        h.update(b"\0" + (p if isinstance(p, bytes) else p.encode()))
    return h.hexdigest()[:40]


def load_json(name: str) -> Any | None:
    """A cached JSON value, or None when absent (an entry that fails its check is rebuilt)."""
    body = read_entry(name)
    if body is None:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        discard(name, "it is not JSON")
        return None


def store_json(name: str, value: Any) -> None:
    write_entry(name, json.dumps(value).encode("utf-8"))
