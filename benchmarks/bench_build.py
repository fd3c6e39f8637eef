"""Throughput of `mmpr build` against raw `vllm.LLM.generate` on the same prompts and sampling.

Both paths run in one process on one engine (the embedded model unless
``--model``), with the same per-item seeds, so they generate the same tokens.
The raw path renders the chat prompts with the model's template and calls
``LLM.generate`` once; the mmpr path is the build pipeline (prompting,
generation, labelling, pairing, Parquet writing) timed end to end.

Prints generated tokens/s of both and the ratio mmpr/raw (goal: >= 0.97).

    .venv/bin/python benchmarks/bench_build.py [--items 32] [--samples 4] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="mathqa")
    parser.add_argument("--model", default=None)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="alternate raw/mmpr this many times; best of each")
    args = parser.parse_args()

    from vllm import SamplingParams

    from mmpr_builder.config import merge
    from mmpr_builder.engine import Engine, EngineConfig, item_seed
    from mmpr_builder.items import QuestionItem
    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.pipeline import BuildRunner, chunked
    from mmpr_builder.prompt import build_user_text
    from mmpr_builder.recipes import load_recipe
    from mmpr_builder.sources import iter_items
    from mmpr_builder.output.writer import ShardWriter

    recipe = merge(load_recipe(args.recipe), {"sampling": {"num_samples": args.samples, "max_tokens": args.max_tokens}})
    items = [x for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                                   limit=args.items) if isinstance(x, QuestionItem)]
    engine = Engine(resolve_model(args.model), EngineConfig(), seed=0)
    s = recipe.sampling
    tok = engine.tokenizer

    def raw() -> tuple[int, float]:
        prompts, params = [], []
        for item in items:
            content = [{"type": "image"} for _ in item.images] + [{"type": "text", "text": build_user_text(item, recipe.prompt)}]
            text = tok.apply_chat_template([{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True)
            prompt = {"prompt": text}
            if item.images:
                prompt["multi_modal_data"] = {"image": [im.to_pil() for im in item.images]}
            prompts.append(prompt)
            params.append(SamplingParams(n=s.num_samples, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                                         max_tokens=s.max_tokens, seed=item_seed(0, item.id)))
        t0 = time.perf_counter()
        outs = engine.llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - t0
        return sum(len(o.token_ids) for out in outs for o in out.outputs), seconds

    def mmpr() -> tuple[int, float]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            writer = ShardWriter(Path(tmp), run_fingerprint={"bench": 1})
            runner = BuildRunner(recipe, engine, writer, seed=0, run_info={"recipe": recipe.name, "mmpr_version": "bench"})
            for chunk in chunked(iter(items), 256):
                runner.run_chunk(chunk)
            writer.close()
            seconds = time.perf_counter() - t0
        return runner.generated_tokens, seconds

    engine.generate([], temperature=0.0, max_tokens=1)
    raw_best = mmpr_best = 0.0
    for _ in range(args.repeats):
        tokens, seconds = raw()
        raw_best = max(raw_best, tokens / seconds)
        tokens_m, seconds_m = mmpr()
        mmpr_best = max(mmpr_best, tokens_m / seconds_m)
        print(f"raw  {tokens} tokens in {seconds:.1f} s; mmpr {tokens_m} tokens in {seconds_m:.1f} s")
    print(f"raw vllm.LLM.generate: {raw_best:.1f} tokens/s")
    print(f"mmpr build:            {mmpr_best:.1f} tokens/s")
    print(f"ratio mmpr/raw:        {mmpr_best / raw_best:.3f}  (goal >= 0.97)")


if __name__ == "__main__":
    main()
