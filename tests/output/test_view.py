"""`mmpr view`: the report's data (pages, filters' index, search, plots' data), the HTML file, `--serve`.

The folder is made by the real build with an engine double (tests/view_fixture.py); expected values
are read from its Parquet files directly (view_fixture.committed_rows) or worked out by hand.
The page in a real browser: test_view_browser.py.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest
from fake_rows import FINGERPRINT, make_rows, plan, stats_for
from PIL import Image
from typer.testing import CliRunner
from view_fixture import build_view_fixture, committed_rows, matches

from mmpr_builder.errors import OutputError
from mmpr_builder.items import ItemOutcome
from mmpr_builder.output.view.pairs import THUMB_PX, PairStore
from mmpr_builder.output.view.report import (
    CHUNK_ROWS,
    ITEM_COLUMNS,
    ReportData,
    default_report_path,
    expand_chunk,
    write_report,
)
from mmpr_builder.output.view.server import make_server
from mmpr_builder.output.view.stats import (
    cut_histogram,
    hygiene_by_source,
    length_histogram,
    pass_rate_histogram,
    verdicts_by_source,
)
from mmpr_builder.output.writer import ShardWriter


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_view_fixture(tmp_path_factory.mktemp("view") / "out", tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def rows(folder):
    return committed_rows(folder)


@pytest.fixture(scope="module")
def data(folder):
    return ReportData(folder)


def test_fixture_has_every_kind_of_row(rows, data):
    """The fixture is what the other tests need: both methods, several rejected verdicts, more than one chunk."""
    assert {r["method"] for r in rows} == {"correctness", "dropout_ntp"}
    assert {"incorrect", "no_answer"} <= {r["rejected_verdict"] for r in rows}
    assert len(rows) > 2 * CHUNK_ROWS
    assert data.summary["status"]["too_easy"] > 0 and data.summary["status"]["too_hard"] > 0


def test_index_codes_decode_to_each_rows_values(rows, data):
    from mmpr_builder.output.view.report import FILTER_COLUMNS, index_payload

    index = index_payload(data.columns)
    assert data.store.total == len(rows)
    for column in FILTER_COLUMNS:
        decoded = [index["values"][column][c] for c in index["codes"][column]]
        assert decoded == ["(none)" if r[column] is None else r[column] for r in rows]


def test_chunks_hold_the_rows_in_order_with_thumbnails(rows, data, folder):
    n_chunks = data.meta("static")["n_chunks"]
    assert n_chunks == -(-len(rows) // CHUNK_ROWS)
    seen = []
    for k in range(n_chunks):
        chunk = data.chunk(k)
        assert not set(ITEM_COLUMNS) & set(chunk["columns"])  # sent once per item
        assert len(chunk["items"]) == len({r["item_id"] for r in rows[k * CHUNK_ROWS:(k + 1) * CHUNK_ROWS]})
        for row in expand_chunk(chunk):
            want = rows[row["i"]]
            assert (row["id"], row["chosen"], row["rejected"], row["chosen_answer"], row["cut_char"]) == \
                   (want["id"], want["chosen"], want["rejected"], want["chosen_answer"], want["cut_char"])
            assert (row["question"], row["ground_truth"], row["source"]) == \
                   (want["question"], want["ground_truth"], want["source"])
            assert row["images"] and all(chunk["images"][key] for key in row["images"])
            seen.append(row["i"])
    assert seen == list(range(len(rows)))
    with pytest.raises(IndexError):
        data.chunk(n_chunks)
    # a thumbnail is the row's image, downscaled (the sample images are 64 px: not enlarged)
    row = expand_chunk(data.chunk(0))[0]
    url = data.chunk(0)["images"][row["images"][0]]
    assert url.startswith("data:image/jpeg;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    import pyarrow.parquet as pq

    original = Image.open(io.BytesIO(pq.read_table(folder / "data" / "train-00000.parquet",
                                                   columns=["images"]).column("images")[0][0]["bytes"].as_py()))
    assert thumb.size == original.size and max(thumb.size) <= THUMB_PX


def test_rows_across_files_row_groups_and_parts(tmp_path):
    """Every slice reads the right rows: shards of 10 rows in row groups of 3, then the parts of an open shard."""
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=10, row_group_rows=3)
    for k, (item_id, n) in enumerate(plan(16)):
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
        if k in (12, 14):
            w.checkpoint()  # the last items go to parts of the open shard; the build then dies
    del w
    want = [r["id"] for r in committed_rows(tmp_path)]
    store = PairStore(tmp_path)
    assert any(".parts/" in f.path.as_posix() for f in store.files) and store.total == len(want)
    for start in range(len(want)):
        for stop in range(start, min(len(want), start + 12) + 1):
            assert [r["id"] for r in store.page_rows(start, stop)] == want[start:stop]
    with pytest.raises(IndexError):
        store.page_rows(0, len(want) + 1)


@pytest.mark.parametrize("query", ["TRIANGLE", "no_answer", "I cannot tell", "wrong2", "zz-not-there"])
def test_search_matches_the_rule(rows, data, query):
    assert data.store.search(query) == [i for i, r in enumerate(rows) if matches(r, query)]


def test_search_by_id_and_empty_query(rows, data):
    assert data.store.search(rows[7]["id"]) == [7]
    assert data.store.search("") == list(range(len(rows)))


def test_summary_values(rows, data):
    s = data.summary
    assert s["pairs"] == {"total": len(rows), **Counter(r["method"] for r in rows)}
    assert s["errors"] == {"missing_image": 1}
    assert data.errors[0]["item_id"] == "bad-1"
    assert data.run["model"] == ["fake-engine"] and data.run["recipe"] == ["vqa@1"]
    assert sorted(v.split(": ", 1)[0] for v in data.run["sampling"]) == ["correctness", "dropout_ntp"]
    assert all(json.loads(v.split(": ", 1)[1]) for v in data.run["sampling"])
    chosen = [r["chosen_num_tokens"] for r in rows]
    rejected = [r["rejected_num_tokens"] for r in rows]
    assert data.plots.gaps["all"] == round(round(sum(chosen) / len(chosen), 1) - round(sum(rejected) / len(rejected), 1), 1)


def test_pass_rate_histogram_by_hand():
    def item(correct, incorrect, no_answer=0):
        return ItemOutcome("x", verdicts=Counter(correct=correct, incorrect=incorrect, no_answer=no_answer),
                           responses=correct + incorrect + no_answer)

    h = pass_rate_histogram([item(0, 4), item(1, 3), item(1, 2, 1), item(4, 0), ItemOutcome("dropout-only")])
    assert h.labels == ["0/4", "1/4", "2/4", "3/4", "4/4"]
    assert h.series == {"items": [1, 2, 0, 0, 1]}
    assert "1 items without a checked response" in h.note
    mixed = pass_rate_histogram([item(k, 30 - k) for k in range(30)] + [item(1, 2)])  # 31 rates: ten bins; 1/3 in 0.3-0.4
    assert mixed.series["items"] == [3, 3, 3, 3 + 1, 3, 3, 3, 3, 3, 3]


def test_length_histogram_and_gap_by_hand():
    h = length_histogram([10, 12, 14], [20, 20])
    assert h.labels[0] == "10" and h.labels[-1] == "20" and len(h.labels) == 11
    assert h.series["chosen"][0] == 1 and h.series["chosen"][2] == 1 and h.series["rejected"][-1] == 2
    assert "gap (chosen - rejected) -8.0" in h.note
    wide = length_histogram(list(range(0, 400)), [399], max_bins=20)
    assert len(wide.labels) == 20 and wide.labels[0] == "0-19" and sum(wide.series["chosen"]) == 400


def test_cut_histogram(rows, data):
    dropout = [r for r in rows if r["method"] == "dropout_ntp"]
    h = data.plots.cuts
    assert sum(h.series["pairs"]) == len(dropout)
    for r in dropout:
        assert r["rejected"].startswith(r["chosen"][:r["cut_char"]])
        assert h.series["pairs"][min(9, int(r["cut_token"] / r["chosen_num_tokens"] * 10))] > 0
    hand = cut_histogram({"method": ["dropout_ntp", "dropout_ntp", "correctness"], "cut_token": [5, 10, None],
                          "chosen_num_tokens": [20, 10, 30]})
    assert hand.series["pairs"] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 1] and "mean cut at token 7.5" in hand.note


def test_finish_reasons_from_the_responses_table(folder, data):
    """All sampled responses: the engine double cuts the fourth sample of each mixed item at the limit."""
    import pyarrow.parquet as pq

    table = pq.read_table(folder / "responses", columns=["kind", "finish_reason"]).to_pylist()
    want = Counter(r["finish_reason"] for r in table if r["kind"] == "sample")
    assert data.plots.response_finish.rows == {"vqa": dict(want)}
    assert want["length"] == data.summary["issues"]["truncated"] > 0
    assert sum(want.values()) == data.summary["responses"]


def test_folder_without_responses_table(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)
    for item_id, n in plan(4):
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    w.close()
    assert not (tmp_path / "responses").exists()
    data = ReportData(tmp_path)
    assert data.plots.response_finish.rows == {} and "no responses table" in data.plots.response_finish.note
    assert data.store.total == sum(n for _, n in plan(4))


def test_breakdowns_per_source(tmp_path):
    """Two sources (fake_rows: even items vqa, odd mathqa; item i has i % 5 of 4 responses correct)."""
    outcomes = [ItemOutcome.from_json({**stats_for(i, n), "item_id": i}) for i, n in plan(10)]
    v = verdicts_by_source(outcomes)
    assert v.rows["vqa"] == {"correct": 0 + 2 + 4 + 1 + 3, "incorrect": 4 + 2 + 0 + 3 + 1}
    assert v.rows["mathqa"] == {"correct": 1 + 3 + 0 + 2 + 4, "incorrect": 3 + 1 + 4 + 2 + 0}
    assert hygiene_by_source(outcomes).rows == {"mathqa": {"clean": 20}, "vqa": {"clean": 20}}


def test_report_file(folder, rows, data, tmp_path):
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    path = write_report(folder)
    assert path == default_report_path(folder) == folder.parent / "out-report.html"
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # the folder is left as it was
    html = path.read_text(encoding="utf-8")
    blocks = dict(re.findall(r'<script type="application/json" id="([\w-]+)">(.*?)</script>', html, re.S))
    meta = json.loads(blocks["mmpr-meta"])
    assert meta["mode"] == "static" and meta["total"] == len(rows)
    assert [r["id"] for k in range(meta["n_chunks"]) for r in expand_chunk(json.loads(blocks[f"chunk-{k}"]))] == \
           [r["id"] for r in rows]
    assert all(json.loads(blocks[f"images-{k}"]) for k in range(meta["n_chunks"]))
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert "https://" not in html
    for plot in ("pass-rate", "lengths", "verdicts", "response-finish", "hygiene", "pair-finish", "cuts"):
        figure = re.search(f'<figure class="plot" id="plot-{plot}">(.*?)</figure>', html, re.S).group(1)
        assert figure.count('class="bar"') > 0, plot


def test_hostile_text_stays_data(tmp_path):
    """A question holding `</script>` cannot end a data block or inject markup."""
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    evil = "</script><script>window.pwned=1</script><b>x</b>"
    rows = make_rows("item-000", 2)
    for r in rows:
        r["question"] = evil
    w.add_item("item-000", rows, stats_for("item-000", 2))
    w.close()
    html = write_report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    assert evil not in html and html.count("</script>") == html.count("<script")
    chunk = json.loads(re.search(r'id="chunk-0">(.*?)</script>', html, re.S).group(1))
    assert expand_chunk(chunk)[0]["question"] == evil


def test_cli_view(folder, tmp_path):
    from mmpr_builder.cli import app

    target = tmp_path / "sub" / "report.html"
    result = CliRunner().invoke(app, ["view", str(folder), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(target) and target.stat().st_size > 10_000
    bad = CliRunner().invoke(app, ["view", str(tmp_path / "sub")])
    assert isinstance(bad.exception, OutputError)


def test_serve(folder, rows, data):
    server = make_server(folder, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = urllib.request.urlopen(base + "/").read().decode("utf-8")
        assert '"mode":"serve"' in page and 'id="chunk-0"' not in page
        chunk = json.loads(urllib.request.urlopen(base + "/chunk/1").read())
        assert [r["id"] for r in expand_chunk(chunk)] == [r["id"] for r in rows[CHUNK_ROWS:2 * CHUNK_ROWS]]
        assert chunk["images"]
        found = json.loads(urllib.request.urlopen(base + "/search?q=Triangle").read())["matches"]
        assert found == [i for i, r in enumerate(rows) if matches(r, "triangle")]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/chunk/999")
        assert e.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
