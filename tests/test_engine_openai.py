"""The ``openai`` engine: against an error-injecting local server (retries, timeouts, malformed
replies, a server without vLLM's continuation fields), and against a real ``vllm serve`` of the
embedded model started by the test itself (marker ``engine``: the same end-to-end build as
test_build_e2e.py, through the server).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from fake_chat_server import FakeChatServer
from testlib import REPO_ROOT, solvable_items
from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, EngineConfig, RunConfig
from mmpr_builder.config import merge
from mmpr_builder.engines import GenerationRequest, Sampling, item_seed, make_engine
from mmpr_builder.engines.openai import CONTINUATION_HINT, OpenAIEngine, to_openai_messages
from mmpr_builder.items import QuestionItem
from mmpr_builder.models.aliases import resolve_model
from mmpr_builder.recipes import load_recipe
from mmpr_builder.schema import message_text
from mmpr_builder.sources import iter_items

KEY = "sk-test-DoNotLeak-4f1c2b9e7a"
KEY_ENV = "MMPR_TEST_SERVER_KEY"
MMPR = [sys.executable, "-m", "mmpr_builder"]
IMAGE = sorted((REPO_ROOT / "sample_data" / "vqa" / "images").glob("*.png"))[0]


def _files_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _rows(out: Path) -> list[dict]:
    return [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


# -- against the error-injecting server ----------------------------------------------------------
@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeChatServer(slow_s=3.0) as server:
        yield server


def _config(fake, **kw) -> EngineConfig:
    return EngineConfig(**{"backend": "openai", "base_url": fake.base_url, "api_key_env": KEY_ENV,
                           "max_concurrency": 2, "request_timeout_s": 1.0, "max_retries": 2,
                           "retry_backoff_s": 0.01, **kw})


def test_images_become_png_data_urls():
    im = Image.open(IMAGE).convert("RGB")
    [msg] = to_openai_messages([{"role": "user", "content": [{"type": "image_pil", "image_pil": im},
                                                             {"type": "text", "text": "What is it?"}]}])
    part, text = msg["content"]
    assert text == {"type": "text", "text": "What is it?"} and part["type"] == "image_url"
    prefix = "data:image/png;base64,"
    assert part["image_url"]["url"].startswith(prefix)
    back = Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"][len(prefix):])))
    assert back.size == im.size and back.convert("RGB").tobytes() == im.tobytes()


def test_request_fields_retries_and_backoff(fake):
    sleeps: list[float] = []
    engine = OpenAIEngine(resolve_model(None), _config(fake), sleep=sleeps.append)
    s = Sampling(temperature=0.7, max_tokens=64, top_p=0.9, top_k=50)
    im = Image.open(IMAGE).convert("RGB")
    ok = GenerationRequest("item-ok", [{"role": "user", "content": [
        {"type": "image_pil", "image_pil": im}, {"type": "text", "text": "Add them. [[429x2]]"}]}],
        seed=item_seed(0, "item-ok"), n=3, sampling=s)
    cont = GenerationRequest("item-ok#dropout_ntp/0", [{"role": "user", "content": [{"type": "text", "text": "q"}]},
                                                       {"role": "assistant", "content": "Step 0: we"}],
                             seed=5, continue_final_message=True, sampling=Sampling(temperature=1.0, max_tokens=8))
    res, rej = engine.generate([ok, cont])
    engine.close()
    assert res.error is None and len(res.responses) == 3 and sleeps == [0.01, 0.02]  # 429, 429, then the reply
    assert [r.text.endswith("Answer: \\boxed{42}") for r in res.responses] == [True, False, True]
    assert res.prompt_tokens == 11 and res.completion_tokens == 21
    tok = engine.tokenizer
    for r in res.responses:
        assert r.finish_reason == "stop" and r.token_ids == tok.encode(r.text, add_special_tokens=False)
        assert r.num_tokens == len(r.token_ids) > 0
    body = fake.by_marker("429x2")[-1]["body"]
    assert body["n"] == 3 and body["seed"] == item_seed(0, "item-ok") and body["top_k"] == 50
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["max_tokens"] == 64
    assert body["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "continue_final_message" not in body and "add_generation_prompt" not in body
    sent = [s["body"] for s in fake.seen if s["body"].get("continue_final_message")]
    assert sent and sent[0]["add_generation_prompt"] is False and sent[0]["messages"][-1]["role"] == "assistant"
    assert "top_k" not in sent[0]  # off (-1): not sent
    assert rej.error and "continue_final_message" in rej.error and "vLLM-compatible server" in rej.error
    assert {s["auth"] for s in fake.seen} == {f"Bearer {KEY}"}


def test_build_survives_a_misbehaving_server(fake, tmp_path, caplog):
    """Retried failures recover; a server that stays down, a reply that is not JSON or has no choices
    fail their item alone (errors.jsonl, named); rejected continuations are counted; the run completes."""
    markers = {"ok-1": "ok", "ok-2": "ok", "ok-3": "ok", "r429": "429x2", "r500": "500x1", "slow": "slow",
               "down": "down", "notjson": "notjson", "nochoices": "nochoices", "nogt": "ok"}
    rows = [{"id": i, "question": f"What is 40 + 2? [[{m}]]", **({} if i == "nogt" else {"answer": "42"})}
            for i, m in markers.items()]
    (tmp_path / "0.png").write_bytes(IMAGE.read_bytes())
    rows[0]["image"] = "0.png"
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = merge(load_recipe("vqa"), {"methods": ["correctness", "dropout_ntp"], "sampling": {"num_samples": 4},
                                        "labeler": {"answer_type": "number"}})
    recipe = merge(recipe, {"source": {"path": str(data)}})
    cfg = BuildConfig(recipe, engine=_config(fake), run=RunConfig(out_dir=str(tmp_path / "out"), inflight_items=4))
    with caplog.at_level(logging.INFO):
        summary = run_build(cfg, progress=False)
    out = tmp_path / "out"
    errors = {e["item_id"]: e for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert set(errors) == {"down", "notjson", "nochoices"} and {e["cause"] for e in errors.values()} == {"engine_error"}
    assert "gave up after 3 attempts: HTTP 503" in errors["down"]["message"]
    assert "item notjson: malformed chat-completions reply (not JSON)" in errors["notjson"]["message"]
    assert "item nochoices: malformed chat-completions reply (0 choices, asked 4)" in errors["nochoices"]["message"]
    assert len(fake.by_marker("down")) == 3 and len(fake.by_marker("notjson")) == 1
    assert [len(fake.by_marker(m)) for m in ("429x2", "500x1", "slow")] == [3, 2, 2]  # retried, then answered
    assert summary["items"] == 7 and summary["errors"] == {"engine_error": 3}
    paired = {r["item_id"] for r in _rows(out)}
    assert paired == {"ok-1", "ok-2", "ok-3", "r429", "r500", "slow"}  # 2 correct + 2 wrong samples each
    assert summary["pairs"] == {"total": len(_rows(out)), "correctness": len(_rows(out))}
    assert summary["status"]["no_ground_truth"] == 1 and summary["dropout_ntp"] == {"engine_error": 1}
    assert CONTINUATION_HINT in caplog.text
    assert fake.most_open <= 2  # --max-concurrency
    stamp = json.loads(pq.read_schema(sorted((out / "data").glob("*.parquet"))[0]).metadata[b"mmpr"])
    assert stamp["engine"] == {"backend": "openai", "base_url": fake.base_url, "served_model": None,
                               "family": "idefics3"}
    assert stamp["dtype"] == "server"
    assert KEY.encode() not in _files_text(out) and KEY not in caplog.text


def test_cli_build_with_engine_openai(fake, tmp_path):
    out = tmp_path / "out"
    args = MMPR + ["build", "--source", "arith", "--limit", "3", "--num-samples", "2", "--out", str(out),
                   "--engine", "openai", "--base-url", fake.base_url, "--api-key-env", KEY_ENV,
                   "--max-concurrency", "1", "--json"]
    proc = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["items"] == 3 and summary["responses"] == 6 and summary["errors"] == {}
    assert summary["generated_tokens"] == 3 * 14  # the server's usage: 7 tokens per choice
    assert len(fake.seen) == 3 and fake.most_open == 1 and {s["body"]["n"] for s in fake.seen} == {2}
    assert {s["auth"] for s in fake.seen} == {f"Bearer {KEY}"} and KEY not in proc.stdout + proc.stderr
    proc = subprocess.run(MMPR + ["build", "--source", "arith", "--engine", "openai", "--out", str(tmp_path / "x")],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "error: engine.base_url (--base-url): must be an http(s) URL" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_make_engine_refuses_a_missing_url():
    from mmpr_builder.errors import ConfigError

    with pytest.raises(ConfigError, match="base_url"):
        make_engine(resolve_model(None), EngineConfig(backend="openai"))


# -- against a real `vllm serve` of the embedded model --------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """``vllm serve`` of the embedded model on 127.0.0.1 (API key required), up to 10 minutes to start;
    terminated after the module's tests."""
    from mmpr_builder.engines.vllm import configure_cpu_env, is_cpu_build

    model = resolve_model(None)
    port = _free_port()
    env = {**os.environ, "VLLM_API_KEY": KEY}  # the server then requires the key (not on its command line)
    saved = dict(os.environ)
    if is_cpu_build():
        configure_cpu_env()  # sets defaults in os.environ: copy them to the server, then restore ours
        env = {**os.environ, "VLLM_API_KEY": KEY}
        os.environ.clear()
        os.environ.update(saved)
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model.path, "--host", "127.0.0.1",
           "--port", str(port), "--dtype", "float32", "--max-model-len", str(model.max_model_len), "--seed", "0",
           "--enforce-eager", "--limit-mm-per-prompt", json.dumps({"image": model.limit_mm_per_prompt}),
           "--no-enable-chunked-prefill", "--max-num-batched-tokens", "8192",
           "--disable-log-stats"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not healthy after 600 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(2)
        yield url + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server_engine(vllm_server):
    os.environ[KEY_ENV] = KEY
    engine = OpenAIEngine(resolve_model(None), EngineConfig(backend="openai", base_url=vllm_server,
                                                            api_key_env=KEY_ENV, max_concurrency=8))
    yield engine
    engine.close()


SMALL = {"sampling": {"num_samples": 4, "max_tokens": 96}, "labeler": {"allow_weak": True}}


@pytest.mark.engine
def test_build_through_vllm_serve(server_engine, vllm_server, tmp_path):
    """The CLI build of test_build_e2e.py (smaller: one-step sums), with --engine openai against the
    server: ground truths come from the items' own seeded samples (through the same server), so
    pairs come by construction, not by the toy model's skill."""
    recipe = merge(load_recipe("arith"), SMALL)
    items = [x for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                                   answer_type=recipe.labeler.answer_type, limit=6) if isinstance(x, QuestionItem)]
    solvable = solvable_items(server_engine, recipe, items)
    assert solvable, "no item gave a usable answer and a disagreeing one: the construction needs at least one"
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps({"id": it.id, "question": it.question, "answer": it.ground_truth}) + "\n"
                            for it, _ in solvable))
    (tmp_path / "small.yaml").write_text(json.dumps(SMALL))
    out = tmp_path / "out"
    proc = subprocess.run(MMPR + ["build", "--source", "arith", "--data", str(data), "--config",
                                  str(tmp_path / "small.yaml"), "--out", str(out), "--engine", "openai",
                                  "--base-url", vllm_server, "--api-key-env", KEY_ENV],
                          cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, KEY_ENV: KEY})
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = {it.id: rows for it, rows in solvable}
    assert f"items:        {len(expected)}" in proc.stdout and "tokens/s" in proc.stdout
    rows = _rows(out)
    assert rows and {r["item_id"] for r in rows} <= set(expected)
    assert {r["id"] for rows_ in expected.values() for r in rows_} & {r["id"] for r in rows}, \
        "the build should reproduce some of the pairs its stages made"
    for row in rows:
        assert row["method"] == "correctness" and row["chosen_verdict"] == "correct"
        assert row["rejected_verdict"] in ("incorrect", "no_answer") and row["chosen_finish_reason"] == "stop"
        assert message_text(row["chosen"]) != message_text(row["rejected"])
        assert row["model"] == "embedded" and row["dtype"] == "server"
    stamp = json.loads(pq.read_schema(sorted((out / "data").glob("*.parquet"))[0]).metadata[b"mmpr"])
    assert stamp["engine"] == {"backend": "openai", "base_url": vllm_server, "served_model": None,
                               "family": "idefics3"}
    assert KEY.encode() not in _files_text(out) and KEY not in proc.stdout + proc.stderr


@pytest.mark.engine
def test_dropout_ntp_continuations_through_vllm_serve(server_engine, tmp_path):
    """vLLM's server accepts continue_final_message: a continuation runs, and a DropoutNTP build's
    continuations give pairs or counted drops, never engine errors."""
    recipe = merge(load_recipe("caption"), {"sampling": {"num_samples": 2, "max_tokens": 64},
                                            "prompt": {"template": "{question} Answer in one short sentence."}})
    cont = GenerationRequest("c#dropout_ntp/0", [{"role": "user", "content": [{"type": "text", "text": "Describe a cat."}]},
                                                 {"role": "assistant", "content": "The cat is"}],
                             seed=3, continue_final_message=True, sampling=Sampling(temperature=1.0, max_tokens=8))
    [res] = server_engine.generate([cont])
    assert res.error is None and res.completion_tokens > 0 and res.prompt_tokens > 0
    summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(tmp_path), limit=3, inflight_items=3)),
                        engine=server_engine, progress=False)
    assert summary["items"] == 3 and summary["errors"] == {} and "engine_error" not in summary["dropout_ntp"]
    rows = _rows(tmp_path)
    for row in rows:
        chosen, rejected = message_text(row["chosen"]), message_text(row["rejected"])
        assert row["method"] == "dropout_ntp" and 0 < row["cut_char"] < len(chosen)
        assert rejected.startswith(chosen[: row["cut_char"]]) and rejected != chosen
