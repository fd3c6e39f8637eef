"""Optional judge model for the verdicts that rules leave undecided (``labeler.judge``, off by default).

Issue 13, part 5: rules prefer no answer over a wrong span, so some right
answers end up ``no_answer``/``unverifiable``. A judge model is asked one fixed,
versioned grading prompt (:data:`JUDGE_PROMPT`, :data:`JUDGE_PROMPT_VERSION`)
with the question, the ground truth and the *final part* of the response (the
last ``tail_chars`` characters), and must reply with one word. The reply is
parsed strictly (:func:`parse_verdict`): anything but ``CORRECT``/``INCORRECT``
is no verdict, and the rule verdict stands.

Backends (:func:`make_judge`):

- ``openai``: any OpenAI-compatible chat-completions endpoint (``base_url``,
  ``model``). The API key is read at call time from the environment variable
  whose *name* is ``api_key_env``; it is never stored, logged or put in an
  error message. Uses the ``openai`` package when importable, else ``httpx``.
  Each request has a timeout; connection errors, timeouts, 429 and 5xx are
  retried at most ``max_retries`` times (exponential backoff from
  ``retry_backoff_s``).
- ``engine``: the build's own :class:`mmpr_builder.engines.vllm.Engine` (greedy).

:func:`apply_judge` consults the judge for undecided verdicts only, plus an
optional sampled share of decided ones (``audit_share``) to measure
rule/judge disagreement without changing them. Judge verdicts carry
``AnswerCheck.judged_by`` (``"<prompt version>/<backend>:<model>"``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mmpr_builder.errors import ConfigError
from mmpr_builder.registry import did_you_mean
from mmpr_builder.labelers.answers import AnswerCheck, Verdict

__all__ = ["JUDGE_PROMPT", "JUDGE_PROMPT_VERSION", "JUDGE_BACKENDS", "JudgeConfig", "JudgeInput", "JudgeReply",
           "JudgeStats", "Judge", "render_prompt", "parse_verdict", "make_judge", "apply_judge"]

log = logging.getLogger(__name__)

JUDGE_PROMPT_VERSION = "mmpr-judge-v1"
"""Bump when :data:`JUDGE_PROMPT` or :func:`parse_verdict` changes (it is part of every judge verdict's id)."""

JUDGE_PROMPT = """You are grading the final answer of a solution to a problem.

Problem:
{question}

Reference answer:
{ground_truth}

End of the solution (it may be cut at the start):
{response_tail}

Does the solution commit to a final answer that is equivalent to the reference answer? A solution that gives \
several different answers, hedges between answers, or stops before answering is INCORRECT. Reply with exactly \
one word: CORRECT, INCORRECT, or UNSURE."""
"""The grading prompt (fields: ``question``, ``ground_truth``, ``response_tail``)."""

JUDGE_BACKENDS: tuple[str, ...] = ("none", "openai", "engine")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class JudgeConfig:
    """``labeler.judge``: the optional judge model (see the module doc)."""

    backend: str = field(default="none", metadata={"help": "none (off), openai (an OpenAI-compatible endpoint) or engine (the build's own model)"})
    base_url: str = field(default="", metadata={"help": "endpoint base URL for backend openai, e.g. http://localhost:8000/v1"})
    model: str = field(default="", metadata={"help": "model name sent to the endpoint (backend openai)"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "NAME of the environment variable holding the API key (unset: no key sent)"})
    tail_chars: int = field(default=2000, metadata={"help": "characters from the end of the response shown to the judge"})
    max_tokens: int = field(default=16, metadata={"help": "max new tokens of the judge's reply"})
    timeout_s: float = field(default=60.0, metadata={"help": "per-request timeout (seconds)"})
    max_retries: int = field(default=2, metadata={"help": "retries after a timeout, connection error, 429 or 5xx"})
    retry_backoff_s: float = field(default=1.0, metadata={"help": "first retry delay (seconds), doubled at each retry"})
    audit_share: float = field(default=0.0, metadata={"help": "share of rule-decided verdicts also sent to the judge to count disagreements (never changed)"})
    seed: int = field(default=0, metadata={"help": "seed of the audit sample and of engine requests"})

    def __post_init__(self):
        if self.backend not in JUDGE_BACKENDS:
            raise ConfigError("labeler.judge.backend: unknown backend %r%s; known: %s" % (
                self.backend, did_you_mean(self.backend, JUDGE_BACKENDS), ", ".join(JUDGE_BACKENDS)))
        if self.backend == "openai":
            if not re.match(r"^https?://\S+$", self.base_url or ""):
                raise ConfigError("labeler.judge.base_url: backend openai needs an http(s) URL, got %r" % self.base_url)
            if not self.model:
                raise ConfigError("labeler.judge.model: backend openai needs a model name")
        if not _ENV_NAME_RE.match(self.api_key_env or "") or len(self.api_key_env) > 64:
            # never echo the value: it may be a key pasted in the wrong field
            raise ConfigError("labeler.judge.api_key_env must be the NAME of an environment variable "
                              "(letters, digits, underscores), not the key itself")
        if self.tail_chars < 200 or self.max_tokens < 1:
            raise ConfigError("labeler.judge: tail_chars must be >= 200 and max_tokens >= 1")
        if not self.timeout_s > 0 or self.retry_backoff_s < 0 or not 0 <= self.max_retries <= 10:
            raise ConfigError("labeler.judge: timeout_s must be > 0, retry_backoff_s >= 0, max_retries in [0, 10]")
        if not 0.0 <= self.audit_share <= 1.0:
            raise ConfigError("labeler.judge.audit_share must be in [0, 1], got %r" % self.audit_share)

    @property
    def enabled(self) -> bool:
        """True unless ``backend`` is ``none``."""
        return self.backend != "none"


@dataclass(frozen=True)
class JudgeInput:
    """What the judge sees of one response: the question (may be None), the ground truth, the full response."""

    question: str | None
    ground_truth: str
    response: str


@dataclass(frozen=True)
class JudgeReply:
    """One judge call: ``verdict`` (CORRECT/INCORRECT) or None; ``raw`` reply text; ``error`` when the call failed."""

    verdict: Verdict | None
    raw: str = ""
    error: str | None = None


@dataclass
class JudgeStats:
    """Counts for the run summary: ``consulted`` (undecided sent), ``judged`` (verdicts given), ``unparsed``
    (replies with no verdict), ``errors`` (calls that failed), ``audited`` and ``disagreements`` (indices)."""

    consulted: int = 0
    judged: int = 0
    unparsed: int = 0
    errors: int = 0
    audited: int = 0
    disagreements: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe dict of the counts (``disagreements`` as a count)."""
        d = dataclasses.asdict(self)
        d["disagreements"] = len(self.disagreements)
        return d


def render_prompt(question: str | None, ground_truth: str, response: str, tail_chars: int = 2000) -> str:
    """:data:`JUDGE_PROMPT` filled in; the response is cut to its last ``tail_chars`` characters
    (prefixed with ``...`` when cut). A missing question reads "(not given)". Pure."""
    tail = response if len(response) <= tail_chars else "..." + response[-tail_chars:]
    return JUDGE_PROMPT.format(question=(question or "(not given)").strip(), ground_truth=ground_truth.strip(),
                               response_tail=tail.strip())


_REPLY_RE = re.compile(r"^[\s*_`\"'“”]*(CORRECT|INCORRECT|UNSURE)[\s*_`\"'“”.!]*$", re.IGNORECASE)


def parse_verdict(reply: str) -> Verdict | None:
    """Strict parse of a judge reply: the whole reply must be one of the words CORRECT,
    INCORRECT or UNSURE (any case, optionally in quotes/markdown, with a final period).
    CORRECT/INCORRECT give the verdict; UNSURE and anything else give None."""
    m = _REPLY_RE.match(reply or "")
    if not m or m.group(1).upper() == "UNSURE":
        return None
    return Verdict.CORRECT if m.group(1).upper() == "CORRECT" else Verdict.INCORRECT


class Judge:
    """A judge: ``complete(prompts) -> [JudgeReply]`` plus its id ``name``.

    Args:
        name: the backend and model (``"openai:gpt-4o-mini"``); the id recorded
            in verdicts is ``"<JUDGE_PROMPT_VERSION>/<name>"``.
        call: maps a list of prompts to a list of reply texts or exceptions (one
            per prompt, same order).
        config: the :class:`JudgeConfig` (``tail_chars`` used by :func:`apply_judge`).
    """

    def __init__(self, name: str, call: Callable[[list[str]], list], config: JudgeConfig):
        self.name, self._call, self.config = name, call, config

    @property
    def id(self) -> str:
        return "%s/%s" % (JUDGE_PROMPT_VERSION, self.name)

    def complete(self, prompts: list[str]) -> list[JudgeReply]:
        """One reply per prompt; a failed call is a reply with ``error`` set (never raises per prompt)."""
        out = []
        for r in self._call(prompts):
            if isinstance(r, BaseException):
                out.append(JudgeReply(None, "", "%s: %s" % (type(r).__name__, r)))
            else:
                out.append(JudgeReply(parse_verdict(r), r))
        return out


def make_judge(config: JudgeConfig, engine=None, *, transport: str = "auto",
               sleep: Callable[[float], None] = time.sleep) -> Judge | None:
    """The judge ``config`` describes, or None when ``backend`` is ``none``.

    Args:
        config: validated :class:`JudgeConfig`.
        engine: the build's :class:`~mmpr_builder.engines.vllm.Engine` (backend ``engine``).
        transport: ``auto`` (``openai`` package if importable, else ``httpx``),
            ``openai`` or ``httpx`` (backend ``openai``).
        sleep: called with each retry delay (tests pass a no-op).
    Raises:
        ConfigError: backend ``engine`` without an engine.
    """
    if not config.enabled:
        return None
    if config.backend == "engine":
        if engine is None:
            raise ConfigError("labeler.judge.backend engine needs the build's engine")
        return Judge("engine:%s" % getattr(engine, "model_name", "model"), _engine_call(engine, config), config)
    from mmpr_builder.labelers.judge_http import openai_call

    return Judge("openai:%s" % config.model, openai_call(config, transport=transport, sleep=sleep), config)


def _engine_call(engine, config: JudgeConfig) -> Callable[[list[str]], list]:
    from mmpr_builder.engines import GenerationRequest

    def call(prompts: list[str]) -> list:
        reqs = [GenerationRequest(key="judge-%d" % i, seed=config.seed,
                                  messages=[{"role": "user", "content": [{"type": "text", "text": p}]}])
                for i, p in enumerate(prompts)]
        results = engine.generate(reqs, temperature=0.0, max_tokens=config.max_tokens)
        return [RuntimeError(r.error) if r.error else r.responses[0].text for r in results]

    return call


_UNDECIDED = (Verdict.NO_ANSWER, Verdict.UNVERIFIABLE)


def _audited(seed: int, index: int, share: float) -> bool:
    if share <= 0:
        return False
    h = int.from_bytes(hashlib.sha256(b"%d:%d" % (seed, index)).digest()[:8], "big")
    return h / 2**64 < share


def judge_picks(checks: Sequence[AnswerCheck], config: JudgeConfig, audit_share: float | None = None) -> list[int]:
    """Indices of the checks the judge is asked about: every undecided one (``no_answer``,
    ``unverifiable``) and a seeded ``audit_share`` sample of the decided ones."""
    share = config.audit_share if audit_share is None else audit_share
    return [i for i, c in enumerate(checks) if c.verdict in _UNDECIDED or _audited(config.seed, i, share)]


def apply_judge(checks: Sequence[AnswerCheck], inputs: Sequence[JudgeInput], judge: Judge, *,
                audit_share: float | None = None) -> tuple[list[AnswerCheck], JudgeStats]:
    """Consult ``judge`` for the undecided checks (and an audit sample of decided ones).

    Args:
        checks: rule verdicts, one per response.
        inputs: the same responses' question, ground truth and text (same order).
        judge: from :func:`make_judge`.
        audit_share: share of decided checks also sent, to count disagreements
            (default: the judge's ``config.audit_share``). Their verdicts never change.

    Returns:
        ``(checks, stats)``: a ``no_answer``/``unverifiable`` check the judge
        decides becomes CORRECT/INCORRECT with ``judged_by`` set to the judge's
        id and the rule reason kept; one without a parsed verdict keeps its
        rule verdict, its reason noting the reply. One batched judge call.

    Raises:
        ValueError: ``checks`` and ``inputs`` differ in length.
    """
    if len(checks) != len(inputs):
        raise ValueError("apply_judge: %d checks but %d inputs" % (len(checks), len(inputs)))
    picked = judge_picks(checks, judge.config, audit_share)
    stats = JudgeStats()
    if not picked:
        return list(checks), stats
    prompts = [render_prompt(inputs[i].question, inputs[i].ground_truth, inputs[i].response, judge.config.tail_chars)
               for i in picked]
    out = list(checks)
    for i, reply in zip(picked, judge.complete(prompts)):
        c = checks[i]
        audit = c.verdict not in _UNDECIDED
        stats.audited += audit
        stats.consulted += not audit
        if reply.error is not None:
            stats.errors += 1
            out[i] = dataclasses.replace(c, reason="%s; judge %s failed: %s" % (c.reason, judge.id, reply.error[:200]))
        elif reply.verdict is None:
            stats.unparsed += 1
            out[i] = dataclasses.replace(c, reason="%s; judge %s gave no verdict (reply %r)" % (
                c.reason, judge.id, reply.raw[:80]))
        elif audit:
            agree = reply.verdict is c.verdict
            if not agree:
                stats.disagreements.append(i)
            out[i] = dataclasses.replace(c, reason="%s; judge audit %s: %s (%s)" % (
                c.reason, judge.id, reply.verdict.value, "agrees" if agree else "DISAGREES"))
        else:
            stats.judged += 1
            out[i] = dataclasses.replace(c, verdict=reply.verdict, judged_by=judge.id,
                                         reason="judge %s: %s; rules: %s" % (judge.id, reply.verdict.value, c.reason))
    if stats.errors:
        log.warning("judge %s: %d of %d calls failed", judge.id, stats.errors, len(picked))
    return out, stats
