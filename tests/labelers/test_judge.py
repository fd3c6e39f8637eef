"""The optional judge: prompt, strict parsing, config checks, apply_judge, and both backends
(a local OpenAI-compatible server double; the real embedded model through the ``engine`` fixture)."""

from __future__ import annotations

import logging

import pytest
from fake_judge import FakeJudge

from mmpr_builder.errors import ConfigError
from mmpr_builder.labelers import AnswerCheck, Verdict
from mmpr_builder.labelers.judge import (
    JUDGE_PROMPT_VERSION, JudgeConfig, JudgeInput, apply_judge, make_judge, parse_verdict, render_prompt,
)

KEY = "sk-test-0123456789abcdef"


@pytest.fixture()
def server():
    with FakeJudge() as fake:
        yield fake


def _check(verdict: Verdict) -> AnswerCheck:
    return AnswerCheck(None if verdict is Verdict.NO_ANSWER else "12", verdict, "rules said so", "none", "number")


def test_parse_verdict_is_strict():
    assert parse_verdict("CORRECT") is Verdict.CORRECT
    assert parse_verdict("  **incorrect.**\n") is Verdict.INCORRECT
    assert parse_verdict('"Correct"') is Verdict.CORRECT
    for reply in ("UNSURE", "", "Correct, because 12 = 12", "The answer is CORRECT", "CORRECT INCORRECT", "yes"):
        assert parse_verdict(reply) is None, reply


def test_render_prompt_is_fixed_and_cuts_the_response():
    response = "x" * 5000 + "\nTherefore, there are 412 ways."
    prompt = render_prompt("How many ways?", "412", response, tail_chars=300)
    assert JUDGE_PROMPT_VERSION == "mmpr-judge-v1"
    assert "Problem:\nHow many ways?" in prompt and "Reference answer:\n412\n" in prompt
    assert "...xxx" in prompt and prompt.count("x") < 400 and "412 ways." in prompt
    assert prompt.rstrip().endswith("Reply with exactly one word: CORRECT, INCORRECT, or UNSURE.")
    assert "(not given)" in render_prompt(None, "1", "r")


def test_config_is_checked():
    assert not JudgeConfig().enabled and make_judge(JudgeConfig()) is None
    with pytest.raises(ConfigError, match="did you mean 'openai'"):
        JudgeConfig(backend="opnai")
    with pytest.raises(ConfigError, match="base_url"):
        JudgeConfig(backend="openai", model="m")
    with pytest.raises(ConfigError, match="model"):
        JudgeConfig(backend="openai", base_url="http://localhost:8000/v1")
    with pytest.raises(ConfigError) as err:
        JudgeConfig(api_key_env=KEY + "-with-dash")
    assert KEY not in str(err.value) and "NAME of an environment variable" in str(err.value)
    with pytest.raises(ConfigError, match="audit_share"):
        JudgeConfig(audit_share=1.5)
    with pytest.raises(ConfigError, match="needs the build's engine"):
        make_judge(JudgeConfig(backend="engine"))
    assert JudgeConfig.__dataclass_fields__["base_url"].metadata["help"]


@pytest.mark.parametrize("transport", ["openai", "httpx"])
def test_openai_compatible_endpoint(server, transport, monkeypatch, caplog):
    monkeypatch.setenv("MMPR_TEST_JUDGE_KEY", KEY)
    config = JudgeConfig(backend="openai", base_url=server.base_url, model="grader-1", api_key_env="MMPR_TEST_JUDGE_KEY",
                         max_retries=2, retry_backoff_s=0.5, max_tokens=4)
    slept: list[float] = []
    judge = make_judge(config, transport=transport, sleep=slept.append)
    cases = [("gt-correct", Verdict.NO_ANSWER), ("gt-wrong", Verdict.UNVERIFIABLE), ("malformed", Verdict.NO_ANSWER),
             ("fail-once", Verdict.NO_ANSWER), ("chatty", Verdict.NO_ANSWER), ("gt-correct", Verdict.INCORRECT)]
    checks = [_check(v) for _, v in cases]
    inputs = [JudgeInput("How many?", marker, "Some reasoning. So it is 12.") for marker, _ in cases]
    with caplog.at_level(logging.DEBUG):
        out, stats = apply_judge(checks, inputs, judge)
    jid = "mmpr-judge-v1/openai:grader-1"
    assert [(c.verdict, c.judged_by) for c in out] == [
        (Verdict.CORRECT, jid), (Verdict.INCORRECT, jid), (Verdict.NO_ANSWER, None),
        (Verdict.CORRECT, jid), (Verdict.NO_ANSWER, None), (Verdict.INCORRECT, None)]
    assert "malformed" in out[2].reason and "gave no verdict" in out[4].reason and "probably right" in out[4].reason
    assert out[0].reason.startswith("judge %s: correct; rules: rules said so" % jid)
    assert stats.to_dict() == {"consulted": 5, "judged": 3, "unparsed": 1, "errors": 1, "audited": 0, "disagreements": 0}
    assert slept == [0.5]  # the one 500, retried once
    markers = [s["marker"] for s in server.seen]
    assert sorted(markers) == sorted(["gt-correct", "gt-wrong", "malformed", "fail-once", "fail-once", "chatty"])
    assert {s["path"] for s in server.seen} == {"/v1/chat/completions"}
    assert all(s["auth"] == "Bearer " + KEY for s in server.seen)
    body = server.seen[0]["body"]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("grader-1", 0.0, 4)
    assert KEY not in caplog.text and all(KEY not in c.reason for c in out)


def test_retries_are_bounded_and_audit_never_changes_verdicts(server):
    config = JudgeConfig(backend="openai", base_url=server.base_url, model="g", api_key_env="MMPR_UNSET_KEY_VAR",
                         max_retries=1, retry_backoff_s=2.0, audit_share=1.0)
    slept: list[float] = []
    judge = make_judge(config, transport="httpx", sleep=slept.append)
    checks = [_check(Verdict.NO_ANSWER), _check(Verdict.INCORRECT), _check(Verdict.CORRECT)]
    inputs = [JudgeInput(None, "always-500", "r"), JudgeInput(None, "gt-correct", "r"), JudgeInput(None, "gt-correct", "r")]
    out, stats = apply_judge(checks, inputs, judge)
    assert [c.verdict for c in out] == [Verdict.NO_ANSWER, Verdict.INCORRECT, Verdict.CORRECT]
    assert all(c.judged_by is None for c in out)
    assert "gave up after 2 attempts" in out[0].reason and "DISAGREES" in out[1].reason and "agrees" in out[2].reason
    assert (stats.errors, stats.audited, stats.disagreements) == (1, 2, [1])
    assert slept == [2.0]
    assert [s["auth"] for s in server.seen] == [None] * 4  # no key variable set: no key sent
    assert apply_judge(checks, inputs, judge, audit_share=0.0)[1].audited == 0


class _FakeEngine:
    model_name = "toy"

    def __init__(self, reply: str):
        self.reply, self.calls = reply, []

    def generate(self, requests, *, temperature, top_p=1.0, top_k=-1, max_tokens, desc="generate"):
        from mmpr_builder.engines import GenerationResult
        from mmpr_builder.items import Response

        self.calls.append((requests, temperature, max_tokens))
        return [GenerationResult(r.key, [Response(self.reply, "stop", 1)]) for r in requests]


def test_engine_backend_request_shape():
    engine = _FakeEngine("INCORRECT")
    judge = make_judge(JudgeConfig(backend="engine", max_tokens=3, seed=7), engine)
    out, stats = apply_judge([_check(Verdict.NO_ANSWER)], [JudgeInput("Q?", "5", "So it is 4.")], judge)
    assert (out[0].verdict, out[0].judged_by) == (Verdict.INCORRECT, "mmpr-judge-v1/engine:toy")
    (reqs, temperature, max_tokens), = engine.calls
    assert (temperature, max_tokens, reqs[0].seed, reqs[0].n) == (0.0, 3, 7, 1)
    assert reqs[0].messages == [{"role": "user", "content": [{"type": "text", "text": render_prompt("Q?", "5", "So it is 4.")}]}]


@pytest.mark.engine
def test_engine_backend_with_the_embedded_model(engine):
    judge = make_judge(JudgeConfig(backend="engine", max_tokens=4), engine)
    checks = [_check(Verdict.NO_ANSWER), _check(Verdict.UNVERIFIABLE)]
    inputs = [JudgeInput("What is 2 + 2?", "4", "Adding, 2 + 2 = 4. So the sum is 4."),
              JudgeInput("What is 3 * 3?", "9", "Multiplying gives 6.")]
    out, stats = apply_judge(checks, inputs, judge)
    assert stats.consulted == 2 and stats.errors == 0 and stats.judged + stats.unparsed == 2
    for before, after in zip(checks, out):
        if after.judged_by is not None:  # a parsed one-word verdict from the toy model
            assert after.judged_by.startswith("mmpr-judge-v1/engine:") and after.verdict in (Verdict.CORRECT, Verdict.INCORRECT)
        else:  # anything else is recorded as no verdict, and the rule verdict stands
            assert after.verdict is before.verdict and "gave no verdict (reply" in after.reason
