"""`mmpr view` in a real headless browser: Debian's chromium driven by Playwright (system browser, no download).

Prerequisite: ``apt-get install chromium`` (``.ci/run`` installs it) and ``pip install playwright`` (the ``dev``
extra). A missing browser fails the test with that instruction; it never skips. Expected counts are read from
the folder's Parquet files (view_fixture.committed_rows). Set ``MMPR_VIEW_SCREENSHOT=path.png`` to keep the
screenshot somewhere to look at.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image
from view_fixture import build_view_fixture, committed_rows, matches

from mmpr_builder.output.view.report import PAGE_ROWS, write_report
from mmpr_builder.output.view.server import make_server

PLOTS = ("pass-rate", "lengths", "verdicts", "response-finish", "hygiene", "pair-finish", "cuts")


def chromium_path() -> str:
    path = os.environ.get("MMPR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail("chromium is missing: install Debian's browser with `apt-get update && apt-get install -y "
                    "chromium` (or point MMPR_CHROMIUM at a Chromium binary); `playwright install` is not needed",
                    pytrace=False)
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[dev]' (or pip install playwright)", pytrace=False)
    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_view_fixture(tmp_path_factory.mktemp("view") / "out", tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def rows(folder):
    return committed_rows(folder)


def open_page(browser, url: str):
    """A page at ``url`` once its first page of pairs is drawn, and the list of console errors it logs."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page, errors


def shown(page) -> tuple[int, int, list[int]]:
    """(matching pairs as the page counts them, pair cards in the DOM, their row numbers)."""
    ids = page.eval_on_selector_all(".pair", "els => els.map(e => Number(e.dataset.i))")
    return int(page.get_attribute("#count", "data-matches")), len(ids), ids


def wait_matches(page, n: int) -> None:
    page.wait_for_function(f"document.getElementById('count').dataset.matches === '{n}'", timeout=30_000)


def check_filters_and_paging(page, rows, shot: Path | None = None) -> None:
    total = len(rows)
    assert shown(page) == (total, PAGE_ROWS, list(range(PAGE_ROWS)))
    # a filter: DropoutNTP pairs only
    dropout = [i for i, r in enumerate(rows) if r["method"] == "dropout_ntp"]
    page.select_option("#f-method", label=f"dropout_ntp ({len(dropout)})")
    wait_matches(page, len(dropout))
    assert shown(page)[2] == dropout[:PAGE_ROWS]
    assert set(page.eval_on_selector_all(".pair .tag:first-child", "els => els.map(e => e.textContent)")) == \
        {"dropout_ntp"}
    # the continuation of a DropoutNTP rejected is marked, the extracted answers highlighted
    assert page.locator(".pair .side.rejected .cont").count() == min(PAGE_ROWS, len(dropout))
    if shot is not None:
        page.locator("#browser").screenshot(path=str(shot.with_name(shot.stem + "-dropout.png")))
    # two filters and a search together
    page.select_option("#f-method", label=f"correctness ({total - len(dropout)})")
    no_answer = [i for i, r in enumerate(rows) if r["method"] == "correctness" and r["rejected_verdict"] == "no_answer"]
    page.select_option("#f-rejected_verdict", label=f"no_answer ({sum(r['rejected_verdict'] == 'no_answer' for r in rows)})")
    wait_matches(page, len(no_answer))
    query = "Triangle"
    both = [i for i in no_answer if matches(rows[i], query)]
    page.fill("#search", query)
    page.press("#search", "Enter")
    wait_matches(page, len(both))
    assert shown(page)[2] == both[:PAGE_ROWS] and 0 < len(both) < len(no_answer)
    marked = page.eval_on_selector_all(".pair .side.chosen pre mark", "els => els.map(e => e.textContent)")
    assert marked == [rows[i]["chosen_answer"] for i in both[:PAGE_ROWS]]
    # paging over all pairs
    page.click("#reset")
    wait_matches(page, total)
    pages = -(-total // PAGE_ROWS)
    page.click("#next")
    page.wait_for_function("document.getElementById('pageinfo').textContent.startsWith('page 2 ')")
    assert shown(page)[2] == list(range(PAGE_ROWS, 2 * PAGE_ROWS))
    page.click("#last")
    page.wait_for_function(f"document.getElementById('pageinfo').textContent === 'page {pages} of {pages}'")
    assert shown(page)[2] == list(range((pages - 1) * PAGE_ROWS, total))
    assert page.is_disabled("#next") and not page.is_disabled("#prev")


def test_static_report_in_chromium(browser, folder, rows, tmp_path):
    report = write_report(folder, tmp_path / "report.html")
    page, errors = open_page(browser, report.as_uri())
    for plot in PLOTS:  # every plot is drawn: an svg with bars of non-zero size
        size = page.eval_on_selector(f"#plot-{plot} svg", "svg => { const b = svg.getBoundingClientRect(); "
                                     "const bars = [...svg.querySelectorAll('rect.bar')]; return [b.width, b.height, "
                                     "bars.length, bars.reduce((s, r) => s + r.getBBox().width * r.getBBox().height, 0)]; }")
        assert size[0] > 100 and size[1] > 50 and size[2] > 0 and size[3] > 0, (plot, size)
    assert page.locator(".pair img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    shot = Path(os.environ.get("MMPR_VIEW_SCREENSHOT") or tmp_path / "report.png")
    page.screenshot(path=str(shot), full_page=True)
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is blank"
    check_filters_and_paging(page, rows, shot)
    assert errors == []
    page.close()


def test_served_report_in_chromium(browser, folder, rows):
    server = make_server(folder, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page, errors = open_page(browser, f"http://127.0.0.1:{server.server_address[1]}/")
        check_filters_and_paging(page, rows)
        assert errors == []
        page.close()
    finally:
        server.shutdown()
        server.server_close()
