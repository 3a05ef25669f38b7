"""The offline HTML report, opened in a real browser: headless Debian Chromium.

The page is written to a file, Chromium takes a screenshot of it, and the picture
must show the charts and the department-pair matrix (their colours, in quantity),
not a blank or broken page. Nothing is installed here: CI installs the Debian
`chromium` package; on a developer machine without it the test is skipped, in CI
(`CI` set) a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from bot.reports.shared import PALETTE, attainment_colour
from bot.reports.views import as_html
from tests.unit.test_report_views import sample_insight

WIDTH, HEIGHT = 1200, 2400


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if "CI" not in os.environ:
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    pytest.fail(
        "chromium is not installed, and CI must run the HTML report screenshot test: "
        "install the Debian package `chromium` (apt-get install -y chromium)."
    )


def screenshot(html: Path, png: Path, profile: Path) -> None:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={png}",
        html.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}):\n{done.stderr[-2000:]}"
    assert png.exists(), f"chromium wrote no screenshot:\n{done.stderr[-2000:]}"


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int], tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_html_report_renders_with_charts_and_matrix_visible(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text(as_html(sample_insight()), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "profile")

    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH, HEIGHT)
        colours = image.convert("RGB").getcolors(WIDTH * HEIGHT)
    assert colours is not None
    counts: dict[tuple[int, int, int], int] = {colour: n for n, colour in colours}

    # Not blank: plenty of colours and of "ink" (neither white nor the page background).
    assert len(counts) > 200, f"only {len(counts)} colours: a blank or broken page"
    background = max(counts, key=lambda colour: counts[colour])
    ink = sum(n for colour, n in counts.items() if colour not in {background, (255, 255, 255)})
    assert ink > 0.05 * WIDTH * HEIGHT, f"only {ink} pixels of content"

    def area(hex_colour: str, tolerance: int) -> int:
        target = rgb(hex_colour)
        return sum(n for colour, n in counts.items() if near(colour, target, tolerance))

    # The charts: the two teams' colours fill lines and bars in the embedded pictures.
    assert area(PALETTE[0], 8) > 10_000, "the first team's chart colour is barely visible"
    assert area(PALETTE[1], 8) > 10_000, "the second team's chart colour is barely visible"
    # The matrix: the worst cell (41 %) and the best (92 %) in their attainment colours
    # (CSS backgrounds come out exact; the colour scale's small swatches stay far below).
    assert area(attainment_colour(0.41), 2) > 2500, "the matrix's worst cell is not visible"
    assert area(attainment_colour(0.92), 2) > 2500, "the matrix's best cell is not visible"
