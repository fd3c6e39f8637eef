"""Run a recipe: source -> prompt -> engine -> labelers -> pairing -> writer.

Items stream from the source in chunks of ``chunk_items``. For each chunk every
engine stage is one call over the whole chunk (all K samples of all items, then
all DropoutNTP continuations), so the engine works on large batches; labelling
and writing happen between calls. Each item's outcome (its pair rows and its
statistics) is committed by the :class:`~mmpr_builder.writer.ShardWriter`; a
rerun skips committed items, and per-item seeds make a resumed run give the
same pairs as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from mmpr_builder.config import Recipe
from mmpr_builder.engine import Engine, GenerationRequest, item_seed
from mmpr_builder.errors import ItemError
from mmpr_builder.items import QuestionItem, Response
from mmpr_builder.labelers.answers import Verdict, check_answer
from mmpr_builder.labelers.dropout_ntp import continuation_messages, cut_response, make_rejected
from mmpr_builder.labelers.hygiene import response_issue
from mmpr_builder.pairing import LabeledResponse, correctness_pairs
from mmpr_builder.prompt import build_user_text, check_template
from mmpr_builder.schema import pair_id, text_message, user_message

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """An item ready for the engine: its prompt messages and decoded images."""

    item: QuestionItem
    user_text: str
    messages: list[dict[str, Any]]
    responses: list[Response] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    dropout_chosen: list[Response] = field(default_factory=list)


def chunked(stream: Iterator, size: int) -> Iterator[list]:
    """Yield lists of up to ``size`` consecutive elements of ``stream``."""
    chunk: list = []
    for x in stream:
        chunk.append(x)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class BuildRunner:
    """Runs one recipe with one engine into one writer.

    Args:
        recipe: the recipe (sampling, labeler, pairing, DropoutNTP settings).
        engine: the loaded engine.
        writer: a ShardWriter (or anything with ``done_items``, ``add_item``, ``add_error``,
            ``checkpoint``); each chunk ends with a checkpoint.
        seed: run seed; item seeds derive from it and the item id.
        run_info: provenance stamped into rows (``recipe``, ``mmpr_version``).
    """

    def __init__(self, recipe: Recipe, engine: Engine, writer, *, seed: int, run_info: dict[str, str]):
        self.recipe = recipe
        self.engine = engine
        self.writer = writer
        self.seed = seed
        self.run_info = run_info
        s = recipe.sampling
        self.sampling_json = json.dumps({"n": s.num_samples, "temperature": s.temperature, "top_p": s.top_p,
                                         "top_k": s.top_k, "max_tokens": s.max_tokens}, sort_keys=True)
        d = recipe.dropout_ntp
        self.dropout_json = json.dumps({"ratio": d.ratio, "temperature": d.temperature, "top_p": d.top_p,
                                        "max_tokens": s.max_tokens, "sample": json.loads(self.sampling_json)},
                                       sort_keys=True)
        self.generated_tokens = 0
        self.generation_seconds = 0.0

    # -- stages ---------------------------------------------------------------------------
    def run_chunk(self, chunk: list[QuestionItem | ItemError]) -> None:
        """Process one chunk of the source stream and commit each item's outcome."""
        prepared: list[Prepared] = []
        for x in chunk:
            if isinstance(x, ItemError):
                if x.item_id is None or x.item_id not in self.writer.done_items:
                    self.writer.add_error(x.item_id, x.cause, str(x))
                continue
            if x.id in self.writer.done_items:
                continue
            try:
                prepared.append(self._prepare(x))
            except ItemError as e:
                self.writer.add_error(e.item_id, e.cause, str(e))
        if prepared:
            self._sample(prepared)
            for p in prepared:
                self._label(p)
            self._dropout_ntp([p for p in prepared if p.dropout_chosen])
        for p in prepared:
            if p.stats.get("status") == "engine_error":
                self.writer.add_error(p.item.id, "engine_error", p.stats.pop("error"))
            else:
                p.stats["pairs"] = dict(Counter(row["method"] for row in p.rows))
                p.stats["chosen_tokens"] = [row["chosen_num_tokens"] for row in p.rows]
                p.stats["rejected_tokens"] = [row["rejected_num_tokens"] for row in p.rows]
                self.writer.add_item(p.item.id, p.rows, p.stats)
        self.writer.checkpoint()  # the chunk is durable: a crash from here on loses none of it

    def _prepare(self, item: QuestionItem) -> Prepared:
        try:
            images = [img.to_pil() for img in item.images]
        except Exception as e:  # noqa: BLE001 - any decoder error is this item's fault
            raise ItemError(item.id, "corrupt_image", f"cannot decode image: {e}") from e
        text = build_user_text(item, self.recipe.prompt)
        content = [{"type": "image_pil", "image_pil": im} for im in images] + [{"type": "text", "text": text}]
        return Prepared(item, text, [{"role": "user", "content": content}],
                        stats={"source": item.source, "has_ground_truth": item.ground_truth is not None})

    def _timed_generate(self, requests: list[GenerationRequest], **kwargs):
        t0 = time.perf_counter()
        results = self.engine.generate(requests, **kwargs)
        self.generation_seconds += time.perf_counter() - t0
        self.generated_tokens += sum(r.num_tokens for res in results for r in res.responses)
        return results

    def _sample(self, prepared: list[Prepared]) -> None:
        s = self.recipe.sampling
        requests = [GenerationRequest(p.item.id, p.messages, item_seed(self.seed, p.item.id), n=s.num_samples)
                    for p in prepared]
        results = self._timed_generate(requests, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                                       max_tokens=s.max_tokens, desc="sample")
        for p, res in zip(prepared, results):
            if res.error:
                p.stats.update(status="engine_error", error=res.error)
            p.responses = res.responses
            p.stats["responses"] = len(res.responses)
            p.stats["response_tokens"] = [r.num_tokens for r in res.responses]

    def _label(self, p: Prepared) -> None:
        if p.stats.get("status") == "engine_error":
            return
        recipe, item = self.recipe, p.item
        threshold = recipe.pairing.repetition_threshold
        rng = random.Random(item_seed(self.seed, item.id, "pairing"))
        if item.ground_truth is None:
            p.stats["status"] = "no_ground_truth"
            if "dropout_ntp" in recipe.methods:
                issues = [response_issue(r, threshold) for r in p.responses]
                usable = [r for r, issue in zip(p.responses, issues) if issue is None]
                p.dropout_chosen = self._pick_chosen(rng, usable)
                p.stats.update({f"n_{k}": v for k, v in Counter(i for i in issues if i).items()})
            return
        answer_type = item.answer_type if item.answer_type != "auto" else recipe.labeler.answer_type
        labeled = [
            LabeledResponse.of(r, check_answer(r.text, item.ground_truth, item.choices, answer_type,
                                               allow_weak=recipe.labeler.allow_weak, rel_tol=recipe.labeler.rel_tol),
                               threshold)
            for r in p.responses
        ]
        result = correctness_pairs(labeled, recipe.pairing, rng, answer_type=answer_type, choices=item.choices)
        p.stats.update(status=result.status, **{f"n_{k}": v for k, v in result.counts.items() if v})
        if "correctness" in recipe.methods:
            for chosen, rejected in result.pairs:
                p.rows.append(self._row(p, "correctness", chosen.response, rejected.response,
                                        chosen_check=chosen.check, rejected_check=rejected.check))
        if (result.status == "too_easy" and recipe.pairing.too_easy_to_dropout_ntp
                and "dropout_ntp" in recipe.methods):
            usable = [lr.response for lr in labeled if lr.check.verdict == Verdict.CORRECT and lr.issue is None]
            p.dropout_chosen = self._pick_chosen(rng, usable)

    def _pick_chosen(self, rng: random.Random, usable: list[Response]) -> list[Response]:
        """DropoutNTP chosen responses: up to ``dropout_ntp.num_chosen`` of ``usable``, drawn with ``rng``."""
        return rng.sample(usable, min(len(usable), self.recipe.dropout_ntp.num_chosen))

    def _dropout_ntp(self, prepared: list[Prepared]) -> None:
        d = self.recipe.dropout_ntp
        jobs = []  # (prepared item, chosen response, cut, index of the chosen)
        for p in prepared:
            for k, chosen in enumerate(p.dropout_chosen):
                cut = cut_response(chosen.text, chosen.token_ids or [], self.engine.tokenizer, d.ratio)
                if cut is None:
                    _bump(p.stats, "dropout_too_short")
                    continue
                jobs.append((p, chosen, cut, k))
        if not jobs:
            return
        requests = [GenerationRequest(f"{p.item.id}#{k}", continuation_messages(p.messages, cut.prefix),
                                      item_seed(self.seed, p.item.id, f"dropout_ntp/{k}"),
                                      continue_final_message=True) for p, _, cut, k in jobs]
        results = self._timed_generate(requests, temperature=d.temperature, top_p=d.top_p,
                                       max_tokens=self.recipe.sampling.max_tokens, desc="dropout_ntp")
        for (p, chosen, cut, _), res in zip(jobs, results):
            if res.error:
                _bump(p.stats, "dropout_engine_error")
                log.warning("DropoutNTP continuation failed for item %s: %s", p.item.id, res.error)
                continue
            cont = res.responses[0]
            rejected_text, drop = make_rejected(chosen.text, cut, cont.text)
            if rejected_text is None:
                _bump(p.stats, f"dropout_dropped_{drop}")
                continue
            rejected = Response(rejected_text, cont.finish_reason, cut.cut_token + cont.num_tokens)
            p.rows.append(self._row(p, "dropout_ntp", chosen, rejected, cut_char=cut.cut_char, cut_token=cut.cut_token))

    def _row(self, p: Prepared, method: str, chosen: Response, rejected: Response, *,
             chosen_check=None, rejected_check=None, cut_char: int | None = None,
             cut_token: int | None = None) -> dict[str, Any]:
        """One pair row in the schema of :func:`mmpr_builder.schema.pair_features`."""
        item = p.item
        return {
            "id": pair_id(item.id, method, chosen.text, rejected.text),
            "item_id": item.id,
            "source": item.source,
            "question": item.question,
            "ground_truth": item.ground_truth,
            "prompt": [user_message(p.user_text, len(item.images))],
            "chosen": [text_message("assistant", chosen.text)],
            "rejected": [text_message("assistant", rejected.text)],
            "images": [{"bytes": img.bytes, "path": img.path} for img in item.images],
            "method": method,
            "chosen_answer": chosen_check.extracted if chosen_check else None,
            "rejected_answer": rejected_check.extracted if rejected_check else None,
            "chosen_verdict": chosen_check.verdict.value if chosen_check else None,
            "rejected_verdict": rejected_check.verdict.value if rejected_check else None,
            "chosen_finish_reason": chosen.finish_reason,
            "rejected_finish_reason": rejected.finish_reason,
            "chosen_num_tokens": chosen.num_tokens,
            "rejected_num_tokens": rejected.num_tokens,
            "cut_char": cut_char,
            "cut_token": cut_token,
            "model": self.engine.model_name,
            "sampling": self.sampling_json if method == "correctness" else self.dropout_json,
            "seed": self.seed,
            "recipe": self.run_info["recipe"],
            "mmpr_version": self.run_info["mmpr_version"],
        }


def _bump(stats: dict[str, Any], key: str) -> None:
    stats[key] = stats.get(key, 0) + 1



def run_build(recipe: Recipe, *, out_dir: Path, model: str | None = None, limit: int | None = None,
              seed: int = 0, engine_config=None, overwrite: bool = False, chunk_items: int = 256,
              max_shard_bytes: int = 500_000_000, max_shard_rows: int | None = None,
              push_to_hub: str | None = None, private: bool = False,
              engine: Engine | None = None) -> dict[str, Any]:
    """Build preference pairs for ``recipe`` into ``out_dir``; resumes a previous run of the same arguments.

    Bad source rows and requests the engine rejects alone (after bisecting
    their batch) go to ``errors.jsonl`` with their id and cause
    (``engine_error`` for the latter); such items count as done on rerun.

    Args:
        recipe: what to read and how to sample, label and pair.
        out_dir: output folder (shards under ``data/``, ``manifest.json``,
            ``errors.jsonl``, ``README.md`` card).
        model: alias, Hub id or folder (None = the embedded model).
        limit: take the first N source rows (not part of the run fingerprint,
            so a rerun with a larger limit extends the same output).
        seed: run seed (item seeds derive from it and the item id).
        chunk_items: items per engine batch (larger keeps the engine busier;
            smaller loses less on a crash).
        push_to_hub: ``org/name`` to upload shards to as they close.
        engine: an already loaded engine to reuse (its model overrides ``model``).
    Returns:
        The run summary (see :func:`mmpr_builder.summary.summarize`).
    Raises:
        OutputError: ``out_dir`` holds a run with other arguments (use ``overwrite``).
        ConfigError, ModelError: bad recipe or model, before any work.
    """
    from mmpr_builder import __version__
    from mmpr_builder.output.card import write_card
    from mmpr_builder.engine import EngineConfig
    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.sources import iter_items
    from mmpr_builder.output.summary import summarize
    from mmpr_builder.output.writer import ShardWriter

    t0 = time.perf_counter()
    engine_config = engine_config or EngineConfig()
    spec = engine.spec if engine is not None else resolve_model(model)
    fingerprint = {"recipe": recipe.to_dict(), "model": spec.name, "seed": seed,
                   "engine": dataclasses.asdict(engine_config)}
    pusher = None
    if push_to_hub:
        from mmpr_builder.output.hub import HubPusher

        pusher = HubPusher(push_to_hub, private=private)
    writer = ShardWriter(out_dir, run_fingerprint=fingerprint, overwrite=overwrite,
                         max_shard_bytes=max_shard_bytes, max_shard_rows=max_shard_rows,
                         on_shard_closed=(lambda shard: pusher.push_shard(out_dir, shard)) if pusher else None)
    if pusher:  # shards committed locally by an earlier run but never uploaded
        pusher.push_pending(out_dir, writer.shards)
    check_template(recipe.prompt.template)
    stream = iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                        answer_type=recipe.labeler.answer_type, limit=limit)
    engine = engine or Engine(spec, engine_config, seed=seed)
    run_info = {"recipe": f"{recipe.name}@{recipe.version}", "mmpr_version": __version__}
    runner = BuildRunner(recipe, engine, writer, seed=seed, run_info=run_info)
    for chunk in chunked(stream, chunk_items):
        runner.run_chunk(chunk)
    shards = writer.close()
    stats = writer.item_stats()
    s = recipe.sampling
    card_info = {"model": spec.name, "recipe": recipe.name, "recipe_version": recipe.version, "seed": seed,
                 "mmpr_version": __version__, "license": "other", "repo_id": push_to_hub,
                 "sampling": {"n": s.num_samples, "temperature": s.temperature, "top_p": s.top_p,
                              "top_k": s.top_k, "max_tokens": s.max_tokens}}
    write_card(out_dir, stats=stats, run_info=card_info)
    if pusher:
        pusher.push_pending(out_dir, shards, delete_stale=True)
        pusher.push_card(out_dir)
    return summarize(stats, shards=shards, errors=writer.error_counts(),
                     generated_tokens=runner.generated_tokens, generation_seconds=runner.generation_seconds,
                     wall_seconds=time.perf_counter() - t0, out_dir=out_dir)
