"""`mmpr view` on a large output folder: report size and build time, then (with chromium) page load,
filter, paging and search times in headless Chromium. Prints its figures; asserts nothing.

    python benchmarks/bench_view.py [--pairs 100000] [--keep DIR]

The folder is synthetic (ShardWriter with rows from make_pair_row: 10 pairs an item, texts of a few
hundred characters, the 30 easy-VQA images of sample_data/vqa), so no engine runs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmpr_builder.items import ImageData, ItemOutcome, ItemStatus, QuestionItem, Response  # noqa: E402
from mmpr_builder.labelers.answers import AnswerCheck, Verdict  # noqa: E402
from mmpr_builder.output.view.report import write_report  # noqa: E402
from mmpr_builder.output.view.server import make_server  # noqa: E402
from mmpr_builder.output.writer import ShardWriter  # noqa: E402
from mmpr_builder.schema import Provenance, make_pair_row  # noqa: E402

PROVENANCE = Provenance(recipe="bench", recipe_version="1", mmpr_version="bench", model="synthetic", dtype="float32",
                        seed=0)
WORDS = "the shape is red blue green circle square triangle so we count two three four and then add".split()


def text(rng: random.Random, n: int, answer: str) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f".\nAnswer: \\boxed{{{answer}}}"


def build(out: Path, pairs: int) -> None:
    rng = random.Random(0)
    images = [(ROOT / "sample_data" / "vqa" / "images" / f"{k}.png").read_bytes() for k in range(30)]
    w = ShardWriter(out, run_fingerprint={"bench": pairs})
    per_item = 10
    for i in range(-(-pairs // per_item)):
        item = QuestionItem(f"item-{i:06d}", f"question {i}: what is the colour of the shape?", ground_truth="red",
                            images=[ImageData(images[i % 30], f"{i % 30}.png")], source=("vqa", "chart", "doc")[i % 3])
        rows = []
        for j in range(min(per_item, pairs - i * per_item)):
            chosen = Response(text(rng, rng.randrange(40, 120), "red"), "stop", rng.randrange(40, 160))
            bad = rng.choice(["blue", "green", None])
            rejected = Response(text(rng, rng.randrange(40, 120), bad or "?") if bad else text(rng, 60, "?")[:-12],
                                rng.choice(["stop", "stop", "length"]), rng.randrange(40, 160))
            rows.append(make_pair_row(
                item, item.question, "correctness", chosen, rejected, provenance=PROVENANCE, sampling='{"n": 8}',
                chosen_check=AnswerCheck("red", Verdict.CORRECT, "", "boxed", "short_text"),
                rejected_check=AnswerCheck(bad, Verdict.INCORRECT if bad else Verdict.NO_ANSWER, "", "boxed",
                                           "short_text")))
        outcome = ItemOutcome(item.id, source=item.source, status=ItemStatus.PAIRED, responses=8,
                              verdicts=Counter(correct=4, incorrect=4), pairs=Counter(correctness=len(rows)),
                              chosen_tokens=[r["chosen_num_tokens"] for r in rows],
                              rejected_tokens=[r["rejected_num_tokens"] for r in rows])
        w.add_item(item.id, rows, outcome.to_json())
    w.close()


def browse(url: str, label: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("MMPR_CHROMIUM", "/usr/bin/chromium"),
                                    args=["--no-sandbox"])
        page = browser.new_page()
        t = time.perf_counter()
        page.goto(url, timeout=600_000)
        page.wait_for_selector("body[data-ready='1']", timeout=600_000)
        print(f"{label}: page ready in {time.perf_counter() - t:.1f} s")

        def timed(what: str, action, until: str) -> None:
            t = time.perf_counter()
            action()
            page.wait_for_function(until, timeout=600_000)
            print(f"{label}: {what} {time.perf_counter() - t:.2f} s "
                  f"({page.text_content('#count')}, {page.locator('.pair').count()} pair cards in the DOM)")

        matches = "document.getElementById('count').dataset.matches"
        timed("filter rejected verdict = no_answer", lambda: page.select_option("#f-rejected_verdict", index=2),
              f"{matches} !== '{page.get_attribute('#count', 'data-matches')}'")
        timed("next page", lambda: page.click("#next"),
              "document.getElementById('pageinfo').textContent.startsWith('page 2 ')")
        timed("last page", lambda: page.click("#last"),
              "(() => { const t = document.getElementById('pageinfo').textContent.split(' '); return t[1] === t[3]; })()")
        before = page.get_attribute("#count", "data-matches")
        timed("search 'item-000499'", lambda: (page.fill("#search", "item-000499"), page.press("#search", "Enter")),
              f"{matches} !== '{before}'")
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="build into this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_view-"))
    out = root / "out"
    try:
        t = time.perf_counter()
        if not (out / "manifest.json").is_file():
            build(out, args.pairs)
            print(f"built {args.pairs} pairs in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        report = write_report(out, root / "report.html")
        size = report.stat().st_size
        print(f"report: {size / 1e6:.1f} MB ({size / args.pairs:.0f} bytes a pair) written in "
              f"{time.perf_counter() - t:.1f} s")
        if not Path(os.environ.get("MMPR_CHROMIUM", "/usr/bin/chromium")).is_file():
            print("no chromium: browser timings skipped (apt-get install chromium)")
            return
        browse(report.as_uri(), "static")
        t = time.perf_counter()
        server = make_server(out, port=0)
        print(f"--serve: ready in {time.perf_counter() - t:.1f} s")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            browse(f"http://127.0.0.1:{server.server_address[1]}/", "serve")
        finally:
            server.shutdown()
            server.server_close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
