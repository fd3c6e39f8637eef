"""`mmpr export OUT --format F --to DIR`: the command on a real build folder, its report and its errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from export_cases import BAD_ITEMS, SYSTEM_ITEM, exported_rows
from testlib import REPO_ROOT

from mmpr_builder.errors import ConfigError
from mmpr_builder.export import FORMATS
from mmpr_builder.export.run import export_pairs


def mmpr(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmpr_builder", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_formats_registry():
    assert FORMATS.names() == ["internvl", "swift", "llamafactory"]
    with pytest.raises(ConfigError, match="unknown export format 'llama-factory' \\(did you mean 'llamafactory'\\?\\)"):
        FORMATS.get("llama-factory")


@pytest.mark.parametrize("fmt,annotation,index", [("internvl", "annotations/vqa.jsonl", "meta.json"),
                                                  ("swift", "vqa.jsonl", None),
                                                  ("llamafactory", "vqa.jsonl", "dataset_info.json")])
def test_cli_json_report(vqa_out, tmp_path, fmt, annotation, index):
    proc = mmpr("export", vqa_out, "--format", fmt, "--to", tmp_path / "x", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    n = len(exported_rows(vqa_out, set()))
    images = len(list((tmp_path / "x" / "images").iterdir()))
    assert {k: report[k] for k in ("format", "name", "annotation", "index", "pairs", "images_written",
                                   "images_reused", "skipped")} == {
        "format": fmt, "name": "vqa", "annotation": annotation, "index": index, "pairs": n,
        "images_written": images, "images_reused": n - images, "skipped": {}}
    assert len((tmp_path / "x" / annotation).read_text().splitlines()) == n


def test_cli_text_report_lists_skips(mixed_out, tmp_path):
    proc = mmpr("export", mixed_out, "--format", "internvl", "--to", tmp_path / "mpo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = exported_rows(mixed_out, {*BAD_ITEMS.values(), SYSTEM_ITEM})
    refs = sum(len(r["images"]) for r in rows)
    distinct = len({b["bytes"] for r in rows for b in r["images"]})
    assert proc.stdout.startswith(f"internvl: {len(rows)} pairs -> {tmp_path / 'mpo' / 'annotations' / 'mixed.jsonl'}"
                                  " + meta.json")
    assert f"  images: {distinct} written, {refs - distinct} references to an image already written" in proc.stdout
    assert ("  skipped: bad_image 1, identical_responses 1, image_count_mismatch 1, multi_turn_prompt 1, "
            "placeholder_in_text 1, system_message 1") in proc.stdout
    assert "--meta_path mpo/meta.json" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["--format", "intervl", "--to", "x"], "unknown export format 'intervl' (did you mean 'internvl'?)"),
    (["--format", "swift", "--to", "OUT/export"], "write the export outside the build folder"),
    (["--format", "swift", "--to", "x", "--name", "../up"], "--name '../up': use letters"),
], ids=["format", "inside", "name"])
def test_cli_bad_arguments_exit_2_before_writing(mixed_out, tmp_path, args, message):
    args = [str(mixed_out) + a[3:] if a.startswith("OUT") else a for a in args]
    proc = mmpr("export", mixed_out, *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists() and not (mixed_out / "export").exists()


def test_missing_output_folder(tmp_path):
    with pytest.raises(Exception, match="no such output folder"):
        export_pairs(tmp_path / "nothing", "swift", tmp_path / "x")
