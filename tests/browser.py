"""Rendering pages in headless Chromium for the tests that look at the HTML
reports. Where no Chromium is installed the tests are skipped with that
reason (a fresh machine with only Python and pip); .ci/run installs it and
sets MARGINSPEC_REQUIRE_BROWSER=1, and then a missing browser fails them."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
BLANK_PAGE_BYTES = 20_000  # a blank 1280x2000 screenshot is about 8 KB


def require_chromium() -> str:
    """The browser, or skip (fail where .ci/run asked for it) with the reason."""
    if CHROMIUM is None:
        reason = "chromium is not installed (apt-get install -y chromium; the CI script .ci/run installs it)"
        if os.environ.get("MARGINSPEC_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def screenshot(page: Path, folder: Path, width: int = 1280, height: int = 2000) -> bytes:
    """A PNG of the page as headless Chromium renders it, with no network and a fresh profile."""
    browser = require_chromium()
    png = folder / (page.stem + ".png")
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={folder / 'profile'}", f"--screenshot={png}", f"--window-size={width},{height}",
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    assert png.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return png.read_bytes()


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, channels, rows of pixel bytes) of an 8-bit RGB(A) PNG, its scanlines unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, width, height, channels, idat = 8, 0, 0, 0, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytes(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, channels, rows


def png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct scanlines) of an 8-bit RGB(A) PNG."""
    width, height, _, rows = png_pixels(data)
    return width, height, len(set(rows))
