"""``mmpr build --dry-run``: what a build would do, without starting the engine or writing anything.

It checks the settings and the output folder as the build does, reads and validates the
whole source (bad rows listed as ``errors.jsonl`` would list them: ``item_id``, ``cause``,
``message``), skips items a resume would skip, renders each item's prompt and counts its
tokens with the model's own processor (``transformers.AutoProcessor`` from the model folder:
tokenizer and image processor only, no weights; image tokens are counted by the processor,
or estimated at :data:`IMAGE_TOKENS_ESTIMATE` per image when the model has no usable
processor), then prints the work and an estimated time.

Work (``K`` = ``sampling.num_samples``, ``T`` = ``sampling.max_tokens``):

- requests: one sampling request (``n=K``) per item; DropoutNTP continuations, at most
  ``dropout_ntp.num_chosen`` per item without ground truth (and per item with one when
  ``pairing.too_easy_to_dropout_ntp``, since any could be too easy); judge requests (backend
  ``engine``) at most one per sample;
- max generated tokens: every request runs to its limit (``T``; the judge's ``max_tokens``);
- expected generated tokens: samples x the mean response length, and for each item without
  ground truth ``num_chosen`` continuations of ``(1 - dropout_ntp.ratio)`` of that mean
  (too-easy items and judge replies are not counted). The mean is measured when the output
  folder already holds items of this run; else it is ``T x EXPECTED_FILL``, an assumption;
- time: expected (and max) generated tokens / tokens per second, the user's figure or
  :func:`mmpr_builder.throughput.default_throughput`. Prefill is not counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from mmpr_builder.build_config import BuildConfig
from mmpr_builder.errors import ConfigError, ItemError

log = logging.getLogger(__name__)

#: Assumed mean share of ``max_tokens`` a chain-of-thought response uses, when no run measured it.
#: An assumption (not a measurement): real lengths depend on model and data; a rerun of
#: ``--dry-run`` on a folder with committed items uses their measured mean instead.
EXPECTED_FILL = 0.5

#: Image tokens per image when the model's processor cannot count them (an estimate: InternVL2
#: uses 256 tokens per 448x448 tile, and one tile is the fewest an image takes).
IMAGE_TOKENS_ESTIMATE = 256


class PromptCounter:
    """Counts an item's prompt tokens as the engine would see them: the chat template, then the processor.

    Args:
        model_path: a model folder or Hub id (processor and tokenizer files only are read).
        trust_remote_code: allow the model's own processor code.
    Attributes:
        exact_images: whether image tokens are counted by the processor (else estimated).
    Raises:
        ModelError: neither a processor nor a tokenizer can be loaded from ``model_path``.
    """

    def __init__(self, model_path: str, *, trust_remote_code: bool = False):
        import transformers
        from transformers import AutoProcessor, AutoTokenizer

        from mmpr_builder.errors import ModelError

        transformers.logging.set_verbosity_error()  # config warnings about weights we never load
        self.processor = None
        try:
            processor = AutoProcessor.from_pretrained(model_path, trust_remote_code=trust_remote_code)
            if hasattr(processor, "image_processor") and hasattr(processor, "tokenizer"):
                self.processor = processor
        except Exception as e:  # noqa: BLE001 - many models have no processor; fall back to the tokenizer
            log.info("no processor for %s (%s); image tokens are estimated", model_path, e)
        try:
            self.tokenizer = self.processor.tokenizer if self.processor else AutoTokenizer.from_pretrained(
                model_path, trust_remote_code=trust_remote_code)
        except Exception as e:  # noqa: BLE001 - name the model whatever went wrong
            raise ModelError(f"cannot load the tokenizer of {model_path}: {type(e).__name__}: {e}") from e
        self.exact_images = self.processor is not None

    def count(self, messages: list[dict[str, Any]]) -> int:
        """Prompt tokens of a chat in the engine's format (``image_pil`` parts, generation prompt added)."""
        images = [part["image_pil"] for m in messages if isinstance(m["content"], list)
                  for part in m["content"] if part.get("type") == "image_pil"]
        chat = [{**m, "content": [{"type": "image"} if p.get("type") == "image_pil" else p for p in m["content"]]}
                if isinstance(m["content"], list) else m for m in messages]
        template_owner = self.processor if self.processor is not None else self.tokenizer
        text = template_owner.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        if self.processor is not None:
            enc = self.processor(text=[text], images=[images] if images else None)
            return len(enc["input_ids"][0])
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + IMAGE_TOKENS_ESTIMATE * len(images)


def dry_run(cfg: BuildConfig, *, throughput: float | None = None) -> dict[str, Any]:
    """Plan the build ``cfg`` would run: items, bad rows, prompt tokens, work and time; nothing written.

    Args:
        cfg: the build's settings (checked as the build checks them).
        throughput: generated tokens per second to estimate the time with (None: the table's
            figure for the model and this machine, if any).
    Returns:
        A JSON-safe dict: ``rows``, ``items`` (to generate), ``already_done``, ``images``,
        ``items_without_ground_truth``, ``bad_rows`` (``[{"item_id", "cause", "message"}]``),
        ``errors`` (by cause), ``prompt_tokens`` (``total``, ``mean``, ``max``, ``images``: how image
        tokens were counted), ``over_context`` (prompts longer than the context, when it is
        known: vLLM would reject them), ``work`` (``requests``, ``samples``,
        ``max_generated_tokens``, ``expected_generated_tokens``, ``mean_response_tokens``,
        ``expected_basis``), ``throughput`` (``tokens_per_s``, ``measured``, ``source``, or None)
        and ``estimated_seconds`` (``expected``, ``max``, or None).
    Raises:
        ConfigError, ModelError, OutputError: as the build would, before any work.
    """
    from mmpr_builder.build import make_provenance, run_fingerprint
    from mmpr_builder.labeling import ItemLabeler
    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.output.writer import check_output_dir
    from mmpr_builder.sources import iter_items
    from mmpr_builder.throughput import default_throughput, this_device

    if throughput is not None and not throughput > 0:
        raise ConfigError(f"--throughput: must be > 0 generated tokens/s, got {throughput!r}")
    cfg.validate()
    recipe, run, out_dir = cfg.recipe, cfg.run, cfg.out_dir
    provenance = make_provenance(cfg, model_name=run.model or "embedded")
    manifest = check_output_dir(out_dir, run_fingerprint(cfg, provenance), overwrite=run.overwrite)
    done_ids, measured = _committed(out_dir) if manifest is not None else (set(), [])
    spec = resolve_model(run.model)
    trust = spec.trust_remote_code if cfg.engine.trust_remote_code is None else cfg.engine.trust_remote_code
    counter = PromptCounter(spec.path, trust_remote_code=trust)
    context = cfg.engine.max_model_len or spec.max_model_len
    labeler = ItemLabeler(recipe, provenance, tokenizer=None)

    rows = done = images = no_truth = over = 0
    prompt_tokens: list[int] = []
    bad: list[dict[str, Any]] = []
    for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                        answer_type=recipe.labeler.answer_type, limit=run.limit):
        rows += 1
        if isinstance(x, ItemError):
            if x.item_id is None or x.item_id not in done_ids:
                bad.append({"item_id": x.item_id, "cause": x.cause, "message": str(x)})
            continue
        if x.id in done_ids:
            done += 1
            continue
        try:
            p = labeler.prepare(x)
        except ItemError as e:
            bad.append({"item_id": e.item_id, "cause": e.cause, "message": str(e)})
            continue
        n = counter.count(p.messages)
        prompt_tokens.append(n)
        images += len(x.images)
        no_truth += x.ground_truth is None
        over += context is not None and n >= context

    items = len(prompt_tokens)
    work = _work(cfg, items, no_truth, measured)
    figure = None
    if throughput is not None:
        figure = {"tokens_per_s": throughput, "measured": True, "source": "given (--throughput)"}
    else:
        found = default_throughput(run.model, this_device(), provenance.dtype)
        if found is not None:
            figure = {"tokens_per_s": found.tokens_per_s, "measured": found.measured, "source": found.source}
    seconds = None if figure is None else {
        "expected": round(work["expected_generated_tokens"] / figure["tokens_per_s"], 1),
        "max": round(work["max_generated_tokens"] / figure["tokens_per_s"], 1)}
    return {
        "out_dir": str(out_dir), "recipe": recipe.name, "model": spec.name, "dtype": provenance.dtype,
        "device": this_device(), "rows": rows, "items": items, "already_done": done, "images": images,
        "items_without_ground_truth": no_truth, "bad_rows": bad,
        "errors": dict(sorted(Counter(b["cause"] for b in bad).items())),
        "prompt_tokens": {"total": sum(prompt_tokens), "mean": round(sum(prompt_tokens) / items, 1) if items else 0,
                          "max": max(prompt_tokens, default=0),
                          "images": "counted by the model's processor" if counter.exact_images else
                          f"estimated at {IMAGE_TOKENS_ESTIMATE} tokens per image (no processor)"},
        "context": context, "over_context": over if context is not None else None,
        "work": work, "throughput": figure, "estimated_seconds": seconds,
    }


def _committed(out_dir: Path) -> tuple[set[str], list[int]]:
    """Ids a resume skips (committed items and bad rows with an id) and the committed responses' token counts."""
    from mmpr_builder.output.state import read_state

    ids: set[str] = set()
    tokens: list[int] = []
    for record in read_state(out_dir, verify_checksums=False).records.values():
        if record is None:
            continue
        for it in record["items"]:
            ids.add(it["item_id"])
            tokens += it["stats"].get("response_tokens", [])
        ids.update(e["item_id"] for e in record["errors"] if e["item_id"] is not None)
    return ids, tokens


def _work(cfg: BuildConfig, items: int, no_truth: int, measured: list[int]) -> dict[str, Any]:
    """Requests, samples, max and expected generated tokens (rules in the module docstring)."""
    recipe = cfg.recipe
    s, d, judge = recipe.sampling, recipe.dropout_ntp, recipe.labeler.judge
    samples = items * s.num_samples
    dropout = "dropout_ntp" in recipe.methods
    cont_items = (items if recipe.pairing.too_easy_to_dropout_ntp else no_truth) if dropout else 0
    cont_max = cont_items * d.num_chosen
    judge_max = samples if judge.backend == "engine" else 0
    if measured:
        mean = sum(measured) / len(measured)
        basis = f"measured: mean of {len(measured)} responses already in the output folder"
    else:
        mean = s.max_tokens * EXPECTED_FILL
        basis = f"assumed: max_tokens x {EXPECTED_FILL} per response (no measured lengths yet)"
    expected = samples * mean + (no_truth * d.num_chosen if dropout else 0) * mean * (1 - d.ratio)
    return {
        "requests": {"sampling": items, "dropout_ntp_max": cont_max, "judge_max": judge_max,
                     "total_max": items + cont_max + judge_max},
        "num_samples": s.num_samples, "samples": samples, "max_tokens": s.max_tokens,
        "max_generated_tokens": samples * s.max_tokens + cont_max * s.max_tokens + judge_max * judge.max_tokens,
        "expected_generated_tokens": round(expected), "mean_response_tokens": round(mean, 1),
        "expected_basis": basis,
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_plan(plan: dict[str, Any], max_bad_rows: int = 20) -> str:
    """Human-readable text of :func:`dry_run`'s result (the first ``max_bad_rows`` bad rows listed)."""
    w, pt = plan["work"], plan["prompt_tokens"]
    req = w["requests"]
    lines = [
        f"dry run: {plan['recipe']} with {plan['model']} ({plan['dtype']}, {plan['device']}) -> {plan['out_dir']}"
        " (nothing written, no engine started)",
        f"source:       {plan['rows']} rows: {plan['items']} items to generate, {plan['already_done']} already done, "
        f"{len(plan['bad_rows'])} bad" + (f" ({', '.join(f'{k} {v}' for k, v in plan['errors'].items())})"
                                          if plan["errors"] else ""),
        f"images:       {plan['images']}   items without ground truth: {plan['items_without_ground_truth']}",
        f"prompts:      {pt['total']} tokens (mean {pt['mean']}, max {pt['max']}); image tokens {pt['images']}",
    ]
    if plan["over_context"]:
        lines.append(f"too long:     {plan['over_context']} prompts reach the context ({plan['context']} tokens); "
                     "vLLM will reject them")
    lines += [
        f"requests:     {req['sampling']} sampling (n={w['num_samples']}) + up to "
        f"{req['dropout_ntp_max']} DropoutNTP continuations" + (f" + up to {req['judge_max']} judge requests"
                                                                 if req["judge_max"] else ""),
        f"samples:      {w['samples']}",
        f"generated:    max {w['max_generated_tokens']} tokens; expected {w['expected_generated_tokens']} "
        f"({w['mean_response_tokens']} per response, {w['expected_basis']})",
    ]
    t, secs = plan["throughput"], plan["estimated_seconds"]
    if t is None:
        lines.append("time:         no throughput figure for this model and machine; pass --throughput TOK_PER_S")
    else:
        kind = "" if t["measured"] else " (an estimate)"
        lines.append(f"time:         about {_duration(secs['expected'])} (at most {_duration(secs['max'])}) at "
                     f"{t['tokens_per_s']:g} tokens/s{kind}; source: {t['source']}")
    for b in plan["bad_rows"][:max_bad_rows]:
        lines.append(f"bad row:      {b['message']}")
    if len(plan["bad_rows"]) > max_bad_rows:
        lines.append(f"              ... and {len(plan['bad_rows']) - max_bad_rows} more (--json lists all)")
    return "\n".join(lines)
