"""The kernel cache cannot be turned against its user (issue 12, section 2).

Each test plays one attack or accident on the cache folder, then evaluates the
demo rule set as a new process would (the in-memory state is forgotten), and
checks that nothing planted ran, the numbers are the rule file's, and the
cache healed or was set aside with one warning. Most run in-process; the
full-disk and read-only ones run the CLI in a subprocess with a real limit
(a file size rlimit, an unprivileged user) to check the exit code."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import marginspec
import pytest
from marginspec import cache
from marginspec.cli import main
from marginspec.run import kernel
from marginspec.source.yamlfile import parse_yaml

from conftest import DEMO_RULES, DEMO_SNAPSHOT

SPEC = "demo/basic@2025-01-01"
RULE_FILE = DEMO_RULES / "demo" / "basic" / "2025-01-01.yaml"
# adjusted equity over maintenance margin, worked out in test_cli.py from the snapshot's numbers
MARGIN_RATIO = 13657000 / (160 + 200 * 100 / 8500 * 0.02 * 70000)


@dataclass
class Cache:
    folder: Path
    restart: Callable[[], None]


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cache]:
    """A cache folder of this test's own; `restart()` forgets what is in memory, as a new process would."""

    def restart() -> None:
        kernel._loaded.clear()
        cache.folder.cache_clear()
        cache._warned.clear()

    monkeypatch.setenv("MARGINSPEC_CACHE_DIR", str(tmp_path / "cache"))
    restart()
    yield Cache(tmp_path / "cache", restart)
    restart()


def evaluate() -> tuple[Any, list[str]]:
    """The demo evaluation and the cache warnings it gave."""
    snapshot = json.loads(DEMO_SNAPSHOT.read_text())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = marginspec.load(SPEC, rules=[DEMO_RULES]).evaluate(snapshot)
    return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def kernel_file(folder: Path) -> Path:
    (path,) = folder.glob("marginspec_kernel_*.py")
    return path


def doc_entry(folder: Path, raw: bytes, kind: str = "rule-file") -> Path:
    return folder / f"doc-{cache.key_of(kind, raw)}.json"


def entry_json(path: Path) -> tuple[bytes, Any]:
    """(the header line, if any; the JSON value) of a document entry."""
    data = path.read_bytes()
    head, _, body = data.partition(b"\n") if data.startswith(b"#") else (b"", b"", data)
    return head, json.loads(body)


def test_code_appended_to_a_cached_kernel_does_not_run(fresh: Cache, tmp_path: Path) -> None:
    evaluate()
    canary = tmp_path / "canary"
    with kernel_file(fresh.folder).open("a") as fh:
        fh.write(f"\nopen({str(canary)!r}, 'w').write('ran')\n")
    fresh.restart()
    result, warned = evaluate()
    assert not canary.exists()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
    assert str(canary) not in kernel_file(fresh.folder).read_text()  # rebuilt
    assert len(warned) == 1 and "does not match the hash recorded" in warned[0]


def test_a_doctored_kernel_cannot_report_its_own_numbers(fresh: Cache) -> None:
    evaluate()
    with kernel_file(fresh.folder).open("a") as fh:
        fh.write("\n_real = single_kernel\n"
                 "def single_kernel(*a, **k):\n    out = _real(*a, **k)\n    out['margin_ratio'] = 999.0\n    return out\n")
    fresh.restart()
    result, _ = evaluate()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)


def test_a_planted_document_entry_is_not_read(fresh: Cache) -> None:
    """An entry written by someone else under the name the rule file's bytes give (the old pickle attack)."""
    raw = RULE_FILE.read_bytes()
    doctored = parse_yaml(raw.decode().replace("formula: if(mmr + liquidation_fees > 0", "formula: 999 + 0 * if(mmr + liquidation_fees > 0"),
                          str(RULE_FILE))
    fresh.folder.mkdir(mode=0o700)
    doc_entry(fresh.folder, raw).write_text(json.dumps(doctored.to_json()))
    result, warned = evaluate()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
    assert any("discarded and rebuilt" in w for w in warned)


def test_an_edited_document_entry_does_not_sit_behind_the_files_receipt(fresh: Cache) -> None:
    evaluate()
    raw = RULE_FILE.read_bytes()
    entry = doc_entry(fresh.folder, raw)
    head, doc = entry_json(entry)
    doc["data"]["thresholds"]["liquidation"]["when"] = "margin_ratio <= 1e9"
    entry.write_bytes(head + (b"\n" if head else b"") + json.dumps(doc).encode())
    kernel_file(fresh.folder).unlink()  # so that the kernel is rebuilt from the edited entry
    fresh.restart()
    result, _ = evaluate()
    assert result.state() == "normal"
    assert result.receipt.file_sha256 == hashlib.sha256(raw).hexdigest()


def test_a_valid_entry_moved_to_another_name_fails_its_check(fresh: Cache) -> None:
    """The recorded hash covers the entry's name, which binds it to the bytes it was built from."""
    evaluate()
    table = doc_entry(fresh.folder, (DEMO_RULES.parent / "exchanges" / "demo" / "tables" / "discount" / "2025-01-01.yaml").read_bytes(), "table")
    shutil.copyfile(table, doc_entry(fresh.folder, RULE_FILE.read_bytes()))
    fresh.restart()
    result, warned = evaluate()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
    assert any("does not match the hash" in w for w in warned)


def test_the_folder_is_created_private_whatever_the_umask(fresh: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINSPEC_CACHE_DIR", str(tmp_path / "xdg" / "marginspec"))
    old = os.umask(0)
    try:
        evaluate()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "xdg" / "marginspec").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "xdg").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "xdg" / "marginspec").iterdir())


@pytest.mark.parametrize("setup, message", [
    ("world-writable", "writable by group and others (mode 777"),
    ("group-writable", "writable by group (mode 770"),
    ("someone else's", "owned by user"),
    ("symlink", "is a symbolic link"),
])
def test_a_folder_others_can_write_is_refused_with_one_warning(fresh: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              setup: str, message: str) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    if setup == "symlink":
        fresh.folder.symlink_to(real)
    else:
        fresh.folder.mkdir()
        os.chmod(fresh.folder, {"world-writable": 0o777, "group-writable": 0o770}.get(setup, 0o700))
        real = fresh.folder
    if setup == "someone else's":
        uid = os.geteuid() + 4242  # tests run as root too, which may own anything: pretend to be another user
        monkeypatch.setattr(os, "geteuid", lambda: uid)
    result, warned = evaluate()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
    assert list(real.iterdir()) == []  # nothing written, nothing read
    assert len(warned) == 1 and message in warned[0] and str(fresh.folder) in warned[0]


def test_no_home_folder_means_no_cache_not_a_crash(fresh: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container user with no passwd entry and no $HOME: Path.home() raises."""
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("MARGINSPEC_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", no_home)
    result, warned = evaluate()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
    assert len(warned) == 1 and "MARGINSPEC_CACHE_DIR" in warned[0]


def test_a_write_test_symlink_does_not_truncate_its_target(fresh: Cache, tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("precious")
    fresh.folder.mkdir(mode=0o700)
    (fresh.folder / ".write-test").symlink_to(victim)
    evaluate()
    assert victim.read_text() == "precious"


def test_a_symlinked_kernel_is_not_followed(fresh: Cache, tmp_path: Path) -> None:
    evaluate()
    canary = tmp_path / "canary"
    entry = kernel_file(fresh.folder)
    planted = tmp_path / "planted.py"
    planted.write_text(entry.read_text() + f"\nopen({str(canary)!r}, 'w').write('ran')\n")
    entry.unlink()
    entry.symlink_to(planted)
    fresh.restart()
    result, warned = evaluate()
    assert not canary.exists()
    assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
    assert not entry.is_symlink() and entry.is_file()
    assert any("symbolic link" in w for w in warned)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_kernel_is_rebuilt_once_not_fatal_forever(fresh: Cache, damage: str) -> None:
    evaluate()
    entry = kernel_file(fresh.folder)
    whole = entry.read_bytes()
    entry.write_bytes(b"\x00\xff def (" if damage == "garbage" else whole[: len(whole) // 2])
    for run in range(2):
        fresh.restart()
        result, warned = evaluate()
        assert result.value("margin_ratio") == pytest.approx(MARGIN_RATIO, rel=1e-12)
        assert marginspec.load(SPEC, rules=[DEMO_RULES]).kernel.cached == (run == 1)
        assert len(warned) == (1 - run)


def test_a_full_disk_warns_once_leaves_no_temporary_file_and_still_evaluates(fresh: Cache, monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    code = main(["--rules", str(DEMO_RULES), "evaluate", SPEC, str(DEMO_SNAPSHOT)])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("marginspec: warning:") == 1 and "No space left on device" in err
    assert list(fresh.folder.glob("*.tmp")) == list(fresh.folder.glob(".*.tmp")) == []


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as a full disk fails one
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))


def test_the_cli_on_a_full_disk_exits_0_not_4(tmp_path: Path) -> None:
    """A real limit on the subprocess's file writes (RLIMIT_FSIZE), so every way of writing meets it."""
    folder = tmp_path / "cache"
    env = dict(os.environ, MARGINSPEC_CACHE_DIR=str(folder))
    proc = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(DEMO_RULES), "evaluate", SPEC, str(DEMO_SNAPSHOT)],
                          capture_output=True, text=True, env=env, timeout=120, preexec_fn=_limit_file_size)
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []
    assert proc.returncode == 0, proc.stderr
    assert "margin_ratio" in proc.stdout
    assert proc.stderr.count("marginspec: warning:") == 1, proc.stderr


def test_a_read_only_cache_degrades_to_memory_and_leaves_no_temporary_folder(tmp_path: Path) -> None:
    """A real read-only folder (mode 0500). Root writes anywhere, so as root the CLI runs without the
    capabilities that override file permissions (setpriv drops them from its bounding set)."""
    folder, tmp = tmp_path / "cache", tmp_path / "tmp"
    folder.mkdir(mode=0o500)
    tmp.mkdir(mode=0o700)
    as_user = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []
    env = dict(os.environ, MARGINSPEC_CACHE_DIR=str(folder), TMPDIR=str(tmp))
    try:
        for _ in range(2):
            proc = subprocess.run([*as_user, sys.executable, "-m", "marginspec.cli", "--rules", str(DEMO_RULES), "evaluate", SPEC,
                                   str(DEMO_SNAPSHOT)], capture_output=True, text=True, env=env, timeout=120)
            assert list(tmp.iterdir()) == [] and list(folder.iterdir()) == []
            assert proc.returncode == 0, proc.stderr
            assert proc.stderr.count("marginspec: warning:") == 1 and "cannot write to the cache folder" in proc.stderr, proc.stderr
    finally:
        folder.chmod(0o700)


def test_the_fingerprint_covers_every_module_of_every_subpackage() -> None:
    package = Path(cache.__file__).resolve().parent
    names = {p.relative_to(package).as_posix() for p in cache.fingerprint_files()}
    assert {p.relative_to(package).as_posix() for p in package.rglob("*.py")} <= names
    assert {"backends/numpy_kernel.py", "ir/compiler.py", "language/parser.py", "source/schemas/rule-file.v2.json"} <= names
