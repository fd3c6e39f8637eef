"""The per-item labelling stage of a build: sampled responses -> pair rows + an :class:`ItemOutcome`.

One :class:`ItemLabeler` serves a whole run. For each item it

1. labels the K responses (:func:`mmpr_builder.labelers.answers.check_answer`
   and :func:`mmpr_builder.labelers.hygiene.response_issue`) and makes the
   correctness pairs (:func:`mmpr_builder.pairing.correctness_pairs`);
2. picks DropoutNTP chosen responses (items without ground truth, or too-easy
   items when the recipe says so), cuts them and returns the continuation
   requests (without the image) for the engine;
3. turns each continuation into a DropoutNTP pair.

All randomness comes from per-item seeds (:func:`mmpr_builder.engines.item_seed`),
so an item's pairs do not depend on scheduling, batching or resumes.

Every request and result is also recorded on the :class:`PreparedItem` (``record``), from
which :func:`mmpr_builder.output.responses.make_response_rows` makes the item's rows of
the responses table; a relabel (:mod:`mmpr_builder.relabel`) runs this same labeller on
them, with the stored DropoutNTP cuts in place of the tokenizer (``cutter``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmpr_builder.config import Recipe
from mmpr_builder.engines import GenerationRequest, GenerationResult, Sampling, item_seed
from mmpr_builder.errors import ItemError
from mmpr_builder.items import PAIRING_COUNTS, DropReason, ItemOutcome, ItemStatus, QuestionItem, Response, ResponseIssue
from mmpr_builder.labelers.answers import Verdict, check_answer
from mmpr_builder.labelers.dropout_ntp import Cut, continuation_messages, cut_response, make_rejected
from mmpr_builder.labelers.hygiene import response_issue
from mmpr_builder.labelers.judge import Judge, JudgeInput, apply_judge, judge_picks, make_judge, render_prompt
from mmpr_builder.pairing import LabeledResponse, correctness_pairs
from mmpr_builder.prompt import build_user_text
from mmpr_builder.schema import Provenance, make_pair_row

log = logging.getLogger(__name__)


class MissingGeneration(LookupError):
    """A relabel needs a response the build never generated (it would need the model)."""


@dataclass
class ResponseRecord:
    """What an item asked the engine and got back, for the responses table.

    Attributes:
        requests: request key -> ``(request_sha256, seed)`` (:func:`~mmpr_builder.output.responses.request_digest`).
        prompt_ids: request key -> the prompt token ids the engine reported (None if not).
        labels: the samples' final labels (ground truth items; after the judge), else None.
        issues: the samples' hygiene issues (items without ground truth), else None.
        attempts: DropoutNTP draw position -> ``{"chosen_index", "cut", "result", "drop"}``.
        judge: asked sample index -> the judge request's result.
    """

    requests: dict[str, tuple[str, int]] = field(default_factory=dict)
    prompt_ids: dict[str, list[int] | None] = field(default_factory=dict)
    labels: list[LabeledResponse] | None = None
    issues: list[str | None] | None = None
    attempts: dict[int, dict[str, Any]] = field(default_factory=dict)
    judge: dict[int, GenerationResult] = field(default_factory=dict)


@dataclass
class PreparedItem:
    """An item on its way through the build.

    Attributes:
        item: the question item.
        user_text: the user turn's text as sent (CoT template applied).
        messages: the chat prompt (images as PIL parts, then the text).
        outcome: filled in as the item is labelled.
        rows: its pair rows so far (``(order key, row)``, sorted when the item is committed).
        open_requests: DropoutNTP continuations or judge requests still in the engine.
        responses, labeled, judge_replies: kept while the judge's replies are awaited.
        record: every request and result, for the responses table.
    """

    item: QuestionItem
    user_text: str
    messages: list[dict[str, Any]]
    outcome: ItemOutcome
    rows: list[tuple[tuple, dict[str, Any]]] = field(default_factory=list)
    open_requests: int = 0
    responses: list[Response] = field(default_factory=list)
    labeled: list[LabeledResponse] | None = None
    judge_replies: dict[int, str | BaseException] = field(default_factory=dict)
    record: ResponseRecord = field(default_factory=ResponseRecord)

    def sorted_rows(self) -> list[dict[str, Any]]:
        """Pair rows in a fixed order: correctness pairs as drawn, then DropoutNTP pairs by chosen index."""
        return [row for _, row in sorted(self.rows, key=lambda kr: kr[0])]


@dataclass(frozen=True)
class JudgeAsk:
    """One judge request: the ``index``-th response of an item (backend ``engine``)."""

    index: int


@dataclass(frozen=True)
class Continuation:
    """One DropoutNTP job: the ``index``-th chosen response of an item, cut at ``cut``."""

    index: int
    chosen: Response
    cut: Cut
    chosen_index: int = 0


class ItemLabeler:
    """Labels items for one run (recipe, provenance, seed and the model's tokenizer).

    Args:
        recipe: sampling, labeler, pairing and DropoutNTP settings.
        provenance: stamped into every row.
        tokenizer: the model's tokenizer (DropoutNTP cuts in tokens).
        cutter: ``(item id, sample index, response) -> Cut | None`` in place of cutting with the
            tokenizer (a relabel: the stored cuts); raises :class:`MissingGeneration` for a
            response that was never cut.
    """

    def __init__(self, recipe: Recipe, provenance: Provenance, tokenizer,
                 cutter: Callable[[str, int, Response], Cut | None] | None = None):
        self.recipe = recipe
        self.provenance = provenance
        self.tokenizer = tokenizer
        self.cutter = cutter
        judge = recipe.labeler.judge
        self.http_judge = make_judge(judge) if judge.backend == "openai" else None
        s, d = recipe.sampling, recipe.dropout_ntp
        self.sample_params = Sampling(temperature=s.temperature, max_tokens=s.max_tokens, top_p=s.top_p, top_k=s.top_k)
        self.continue_params = Sampling(temperature=d.temperature, max_tokens=s.max_tokens, top_p=d.top_p)
        sampling = {"n": s.num_samples, "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                    "max_tokens": s.max_tokens}
        self.sampling_json = json.dumps(sampling, sort_keys=True)
        self.dropout_json = json.dumps({"ratio": d.ratio, "temperature": d.temperature, "top_p": d.top_p,
                                        "max_tokens": s.max_tokens, "sample": sampling}, sort_keys=True)

    # -- requests ------------------------------------------------------------------------
    def prepare(self, item: QuestionItem) -> PreparedItem:
        """Decode the item's images and render its prompt.

        Raises:
            ItemError: ``corrupt_image`` when an image cannot be decoded.
        """
        try:
            images = [img.to_pil() for img in item.images]
        except Exception as e:  # noqa: BLE001 - any decoder error is this item's fault
            raise ItemError(item.id, "corrupt_image", f"cannot decode image: {e}") from e
        text = build_user_text(item, self.recipe.prompt)
        content = [{"type": "image_pil", "image_pil": im} for im in images] + [{"type": "text", "text": text}]
        return PreparedItem(item, text, [{"role": "user", "content": content}],
                            ItemOutcome(item.id, source=item.source))

    def sample_request(self, p: PreparedItem) -> GenerationRequest:
        """The request for the item's K chain-of-thought samples (seed from the run seed and the item id)."""
        return _recorded(p, GenerationRequest(p.item.id, p.messages, item_seed(self.provenance.seed, p.item.id),
                                              n=self.recipe.sampling.num_samples, sampling=self.sample_params))

    def continuation_request(self, p: PreparedItem, job: Continuation) -> GenerationRequest:
        """The DropoutNTP request: the prompt without images, the prefix as an unfinished assistant turn."""
        return _recorded(p, GenerationRequest(
            f"{p.item.id}#dropout_ntp/{job.index}", continuation_messages(p.messages, job.cut.prefix),
            item_seed(self.provenance.seed, p.item.id, f"dropout_ntp/{job.index}"),
            continue_final_message=True, sampling=self.continue_params))

    def take_samples(self, p: PreparedItem, result: GenerationResult) -> None:
        """Keep the item's K sampled responses (``result`` without error) and their prompt's tokens."""
        p.responses = result.responses
        p.record.prompt_ids[result.key] = result.prompt_token_ids

    def take_judge_reply(self, p: PreparedItem, ask: JudgeAsk, result: GenerationResult) -> None:
        """Keep the judge's reply (or its error) about one response (backend ``engine``)."""
        p.judge_replies[ask.index] = RuntimeError(result.error) if result.error else result.responses[0].text
        p.record.judge[ask.index] = result
        p.record.prompt_ids[result.key] = result.prompt_token_ids

    # -- labelling -----------------------------------------------------------------------
    def check_samples(self, p: PreparedItem, responses: list[Response]) -> list[LabeledResponse] | None:
        """Record the K responses and label them by rules (None for an item without ground truth).

        Verdicts: :func:`~mmpr_builder.labelers.answers.check_answer` with the recipe's answer
        type, extraction mode and tolerance (the item's question given to reading mode);
        hygiene: :func:`~mmpr_builder.labelers.hygiene.response_issue`. A ground truth that
        cannot be normalised is logged and recorded in the item's ``warnings``.
        """
        lab, item, out = self.recipe.labeler, p.item, p.outcome
        threshold = self.recipe.pairing.repetition_threshold
        out.responses = len(responses)
        out.response_tokens = [r.num_tokens for r in responses]
        if item.ground_truth is None:
            return None
        labeled = [LabeledResponse.of(r, check_answer(r.text, item.ground_truth, item.choices, self._answer_type(item),
                                                      extraction=lab.extraction, allow_weak=lab.allow_weak,
                                                      question=item.question, rel_tol=lab.rel_tol), threshold)
                   for r in responses]
        warning = next((lr.check.gt_warning for lr in labeled if lr.check.gt_warning), None)
        if warning:
            log.warning("item %s: ground truth %r: %s", item.id, item.ground_truth, warning)
            out.warnings.append(f"ground truth: {warning}")
        return labeled

    # -- the optional judge (labeler.judge) -----------------------------------------------
    @property
    def judge_in_stream(self) -> bool:
        """The judge is the build's own model: its prompts join the engine stream (:meth:`judge_requests`)."""
        return self.recipe.labeler.judge.backend == "engine"

    def _judge_inputs(self, p: PreparedItem, labeled: list[LabeledResponse]) -> list[JudgeInput]:
        return [JudgeInput(p.item.question, p.item.ground_truth, lr.response.text) for lr in labeled]

    def judge_requests(self, p: PreparedItem, labeled: list[LabeledResponse]) -> list[tuple[GenerationRequest, JudgeAsk]]:
        """Engine requests for the responses the judge is asked about (greedy, ``judge.max_tokens``)."""
        cfg = self.recipe.labeler.judge
        checks = [lr.check for lr in labeled]
        inputs = self._judge_inputs(p, labeled)
        return [(_recorded(p, GenerationRequest(f"{p.item.id}#judge/{i}",
                                   [{"role": "user", "content": [{"type": "text", "text": render_prompt(
                                       inputs[i].question, inputs[i].ground_truth, inputs[i].response,
                                       cfg.tail_chars)}]}],
                                   item_seed(cfg.seed, p.item.id, f"judge/{i}"),
                                   sampling=Sampling(temperature=0.0, max_tokens=cfg.max_tokens))), JudgeAsk(i))
                for i in judge_picks(checks, cfg)]

    def apply_judge(self, p: PreparedItem, labeled: list[LabeledResponse],
                    replies: dict[int, str | BaseException] | None = None) -> list[LabeledResponse]:
        """The labels with the judge's verdicts applied (:func:`~mmpr_builder.labelers.judge.apply_judge`).

        Args:
            replies: the engine's reply text (or error) per asked index (:meth:`judge_requests`);
                None to call the HTTP judge (backend ``openai``) here.
        """
        cfg = self.recipe.labeler.judge
        if replies is None:
            judge = self.http_judge
        else:
            judge = Judge(f"engine:{self.provenance.model}", lambda prompts: [replies[i] for i in sorted(replies)], cfg)
        checks, _ = apply_judge([lr.check for lr in labeled], self._judge_inputs(p, labeled), judge)
        return [dataclasses.replace(lr, check=c) for lr, c in zip(labeled, checks)]

    def label_samples(self, p: PreparedItem, responses: list[Response],
                      labeled: list[LabeledResponse] | None = None) -> list[Continuation]:
        """Label the K responses, add the correctness pairs, and return the DropoutNTP jobs (maybe none).

        Args:
            labeled: the responses' labels when already made (by :meth:`check_samples`,
                possibly revised by a judge); else they are made here.
        """
        recipe, item, out = self.recipe, p.item, p.outcome
        threshold = recipe.pairing.repetition_threshold
        rng = random.Random(item_seed(self.provenance.seed, item.id, "pairing"))
        if labeled is None:
            labeled = self.check_samples(p, responses)
        if labeled is None:  # no ground truth: DropoutNTP only
            out.status = ItemStatus.NO_GROUND_TRUTH
            issues = [response_issue(r, threshold) for r in responses]
            out.issues.update(ResponseIssue(i) for i in issues if i)
            p.record.issues = issues
            if "dropout_ntp" not in recipe.methods:
                return []
            return self._cut(p, rng, [r for r, i in zip(responses, issues) if i is None], responses)
        p.record.labels = labeled
        answer_type = self._answer_type(item)
        result = correctness_pairs(labeled, recipe.pairing, rng, answer_type=answer_type, choices=item.choices)
        out.status = ItemStatus(result.status)
        out.verdicts.update(lr.check.verdict.value for lr in labeled)
        out.judged += sum(lr.check.judged_by is not None for lr in labeled)
        out.issues.update(ResponseIssue(lr.issue) for lr in labeled if lr.issue)
        out.pairing.update({k: result.counts.get(k, 0) for k in PAIRING_COUNTS})
        if "correctness" in recipe.methods:
            for n, (chosen, rejected) in enumerate(result.pairs):
                self._add_row(p, (0, n), "correctness", chosen.response, rejected.response,
                              chosen_check=chosen.check, rejected_check=rejected.check)
        if (result.status == "too_easy" and recipe.pairing.too_easy_to_dropout_ntp
                and "dropout_ntp" in recipe.methods):
            usable = [lr.response for lr in labeled if lr.check.verdict == Verdict.CORRECT and lr.issue is None]
            return self._cut(p, rng, usable, responses)
        return []

    def _answer_type(self, item: QuestionItem) -> str:
        return item.answer_type if item.answer_type != "auto" else self.recipe.labeler.answer_type

    def _cut(self, p: PreparedItem, rng: random.Random, usable: list[Response],
             responses: list[Response]) -> list[Continuation]:
        """Draw up to ``dropout_ntp.num_chosen`` chosen responses with ``rng`` and cut each."""
        jobs = []
        for k, chosen in enumerate(rng.sample(usable, min(len(usable), self.recipe.dropout_ntp.num_chosen))):
            j = next(i for i, r in enumerate(responses) if r is chosen)
            try:
                cut = (self.cutter(p.item.id, j, chosen) if self.cutter is not None else
                       cut_response(chosen.text, chosen.token_ids or [], self.tokenizer, self.recipe.dropout_ntp.ratio))
            except MissingGeneration:
                self._not_generated(p, f"response {j} was never cut")
                continue
            p.record.attempts[k] = {"chosen_index": j, "cut": cut, "result": None, "drop": None}
            if cut is None:
                p.outcome.dropout_drops[DropReason.TOO_SHORT] += 1
                p.record.attempts[k]["drop"] = DropReason.TOO_SHORT.value
            else:
                jobs.append(Continuation(k, chosen, cut, j))
        return jobs

    def _not_generated(self, p: PreparedItem, why: str) -> None:
        p.outcome.dropout_drops[DropReason.NOT_GENERATED] += 1
        log.warning("item %s: a DropoutNTP continuation was never generated (%s); rerun `mmpr build` to "
                    "generate it", p.item.id, why)

    def add_continuation(self, p: PreparedItem, job: Continuation, result: GenerationResult) -> None:
        """Turn one continuation into a DropoutNTP pair (or count why it gives none)."""
        attempt = p.record.attempts[job.index]
        if result.not_generated:  # a relabel without this continuation stored
            del p.record.attempts[job.index]
            self._not_generated(p, f"continuation {job.index} of response {job.chosen_index}")
            return
        attempt["result"] = result
        p.record.prompt_ids[result.key] = result.prompt_token_ids
        if result.error:
            p.outcome.dropout_drops[DropReason.ENGINE_ERROR] += 1
            attempt["drop"] = DropReason.ENGINE_ERROR.value
            log.warning("DropoutNTP continuation failed for item %s: %s", p.item.id, result.error)
            return
        cont = result.responses[0]
        rejected_text, drop = make_rejected(job.chosen.text, job.cut, cont.text)
        if rejected_text is None:
            p.outcome.dropout_drops[DropReason(drop)] += 1
            attempt["drop"] = drop
            return
        rejected = Response(rejected_text, cont.finish_reason, job.cut.cut_token + cont.num_tokens)
        self._add_row(p, (1, job.index), "dropout_ntp", job.chosen, rejected,
                      cut_char=job.cut.cut_char, cut_token=job.cut.cut_token)

    def _add_row(self, p: PreparedItem, order: tuple, method: str, chosen: Response, rejected: Response,
                 **kw) -> None:
        row = make_pair_row(p.item, p.user_text, method, chosen, rejected, provenance=self.provenance,
                            sampling=self.sampling_json if method == "correctness" else self.dropout_json, **kw)
        p.rows.append((order, row))
        p.outcome.pairs[method] += 1
        p.outcome.chosen_tokens.append(chosen.num_tokens)
        p.outcome.rejected_tokens.append(rejected.num_tokens)


def _recorded(p: PreparedItem, request: GenerationRequest) -> GenerationRequest:
    """Note ``request``'s digest and seed on the item (for the responses table); returns it."""
    from mmpr_builder.output.responses import request_digest

    p.record.requests[request.key] = (request_digest(request), request.seed)
    return request
