"""Acceptance: the HTML report opens in headless Chromium and shows its figures.

Chromium comes from Debian (``chromium`` in .ci/apt-packages.txt); without a binary these tests skip.
Two checks, each with a negative control so the check itself is shown able to fail:
- ``--dump-dom`` on a copy of the report with a small load-event script that records, for every <img>,
  ``complete && naturalWidth > 0`` and its natural size: every figure must have decoded at the PNG's size.
  (The report itself has no script; the copy only adds the probe.)
- ``--screenshot`` of the report itself: the PNG must be the window size, not blank, and contain the
  figures' line colour (matplotlib's C0 blue, which the page's CSS never uses).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from acereason.report import build_report
from acereason.report.render import png_size
from tests.test_report import make_run

WINDOW = (1280, 2000)
C0_BLUE = np.array([31, 119, 180])
PROBE = """<script>
window.addEventListener("load", function () {
  var found = Array.prototype.map.call(document.images, function (img) {
    return {ok: img.complete && img.naturalWidth > 0, w: img.naturalWidth, h: img.naturalHeight};
  });
  document.documentElement.setAttribute("data-img-check", JSON.stringify(found));
});
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium binary ($ACEREASON_CHROMIUM or the usual names on PATH); skips when there is none."""
    candidates = [os.environ.get("ACEREASON_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome",
                  "google-chrome-stable", "chrome"]
    for name in candidates:
        path = shutil.which(name) if name else None
        if path:
            return path
    pytest.skip("no chromium binary found (CI installs Debian's `chromium` from .ci/apt-packages.txt)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report with all three figures (training curves, eval accuracy, pass@k)."""
    run = make_run(tmp_path_factory.mktemp("chromium"))
    return build_report(run)[1]


def run_chromium(binary: str, args: list[str], tmp: Path, timeout: float = 90.0) -> str:
    """Run headless Chromium as root in a fresh profile and return its stdout; the whole process group is
    killed on timeout so no renderer outlives the test."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "HOME": str(tmp)})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {timeout:.0f} s")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err[-2000:]}"
    return out


def image_check(binary: str, page: Path, tmp: Path) -> list[dict]:
    """Load ``page`` plus the probe script in Chromium and return what the probe saw for each <img>."""
    probed = tmp / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = run_chromium(binary, ["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], tmp)
    match = re.search(r'data-img-check="([^"]*)"', dom)
    assert match, "the load event never fired (page did not finish loading)"
    return json.loads(html.unescape(match.group(1)))


def screenshot(binary: str, page: Path, tmp: Path) -> np.ndarray:
    """A WINDOW-sized screenshot of ``page`` as an (H, W, 3) uint8 array."""
    shot = tmp / f"shot-{page.stem}.png"
    run_chromium(binary, [f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri()], tmp)
    pixels = imread(shot)  # floats in [0, 1] for PNG
    return np.round(pixels[..., :3] * 255).astype(np.uint8)


def blue_pixels(pixels: np.ndarray) -> int:
    """Pixels within a small distance of matplotlib's C0 blue (curves, markers, error bars)."""
    return int((np.abs(pixels.astype(int) - C0_BLUE).max(axis=-1) <= 24).sum())


def test_every_figure_loads_in_chromium(chromium: str, report: Path, tmp_path: Path) -> None:
    pngs = [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', report.read_text())]
    assert len(pngs) == 3
    seen = image_check(chromium, report, tmp_path)
    assert [img["ok"] for img in seen] == [True, True, True]
    assert [(img["w"], img["h"]) for img in seen] == [png_size(p) for p in pngs]

    # Negative control: the same probe reports a corrupt image as not loaded.
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    assert [img["ok"] for img in image_check(chromium, broken, tmp_path)] == [False, True, True]


def test_screenshot_shows_figures(chromium: str, report: Path, tmp_path: Path) -> None:
    pixels = screenshot(chromium, report, tmp_path)
    assert pixels.shape == (WINDOW[1], WINDOW[0], 3)
    packed = (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) | pixels[..., 2]
    colours = np.unique(packed)
    assert len(colours) > 200, f"screenshot looks blank: {len(colours)} distinct colours"
    assert blue_pixels(pixels) > 2000, "no figure colour in the screenshot: figures not drawn"

    # Negative control: the same page with its images removed has text and tables but no figure colour.
    no_images = tmp_path / "no-images.html"
    no_images.write_text(re.sub(r"<img [^>]*>", "", report.read_text()))
    assert blue_pixels(screenshot(chromium, no_images, tmp_path)) < 50
