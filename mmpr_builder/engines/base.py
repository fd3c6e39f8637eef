"""The engine interface: requests in, sampled responses out, as a stream.

Every engine (:mod:`.vllm` in-process, :mod:`.ray` on a Ray cluster, :mod:`.openai` over HTTP) implements
:class:`StreamingEngine`: :meth:`~StreamingEngine.submit` adds one
:class:`GenerationRequest` at any time, :meth:`~StreamingEngine.step` advances
the work and returns the requests that finished (any order), and
:attr:`~StreamingEngine.in_flight` counts those not yet returned. The build
(:func:`mmpr_builder.pipeline.run_stream`) drives any engine through these three
alone; :meth:`~StreamingEngine.generate` is the batch convenience on top.

A request that fails (rejected, bad reply, server gone) comes back as a
:class:`GenerationResult` with ``error`` set: it fails alone, the run goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

from mmpr_builder.errors import EngineError
from mmpr_builder.items import Response

ENGINE_BACKENDS = ("vllm", "ray", "openai")


def item_seed(run_seed: int, item_id: str, stage: str = "sample") -> int:
    """Per-request seed: first 8 bytes of SHA-256(run seed, stage, item id), as a non-negative int63."""
    digest = hashlib.sha256(f"{run_seed}\x00{stage}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)



@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one request (vLLM ``SamplingParams``; ``top_k=-1`` = off; tokens)."""

    temperature: float
    max_tokens: int
    top_p: float = 1.0
    top_k: int = -1


@dataclass
class GenerationRequest:
    """One prompt to sample from.

    Attributes:
        key: caller's id for the request (an item id), unique among requests in flight.
        messages: chat conversation; user content parts are ``{"type": "text", "text": ...}``
            and ``{"type": "image_pil", "image_pil": PIL.Image}``.
        seed: per-request sampling seed (see :func:`item_seed`).
        n: samples to draw.
        continue_final_message: the last message is an unfinished assistant
            turn to continue (DropoutNTP); no generation prompt is added.
        sampling: temperature, top-p/k and ``max_tokens`` (None: the ``generate()`` call's).
    """

    key: str
    messages: list[dict[str, Any]]
    seed: int
    n: int = 1
    continue_final_message: bool = False
    sampling: Sampling | None = None


@dataclass
class GenerationResult:
    """Outcome of one request: ``responses`` (length n) or ``error`` (then responses is empty).

    ``prompt_token_ids`` are the tokens the model was given (the rendered chat
    prompt, image placeholders expanded), when the engine returns them (``vllm``). ``not_generated``:
    a relabel (:mod:`mmpr_builder.replay`) has no stored response for this request.
    Token usage, when the request ran: ``prompt_tokens`` (prompt length) and
    ``completion_tokens`` (generated tokens, all n samples), as counted by the engine
    or reported by the server (``usage``).
    """

    key: str
    responses: list[Response] = field(default_factory=list)
    error: str | None = None
    prompt_token_ids: list[int] | None = None
    not_generated: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class StreamingEngine:
    """The interface every engine implements (see the module doc).

    Attributes (set by each engine):
        model_name: the name recorded in each pair row (alias or id as given).
        dtype: the dtype the model runs in (``float32``, ``bfloat16``, ... or ``server`` when unknown).
        tokenizer: the model's Hugging Face tokenizer (DropoutNTP cuts in its tokens).
    """

    model_name: str
    dtype: str
    tokenizer: Any

    def submit(self, request: GenerationRequest) -> GenerationResult | None:
        """Add one request (``request.sampling`` set); None when accepted, else a result with ``error``."""
        raise NotImplementedError

    def step(self) -> list[GenerationResult]:
        """Advance the requests in flight; return those that finished (any order, maybe none)."""
        raise NotImplementedError

    @property
    def in_flight(self) -> int:
        """Requests submitted and not yet returned by :meth:`step`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine holds (threads, connections); the default holds nothing."""

    def generate(self, requests: list[GenerationRequest], *, temperature: float | None = None, top_p: float = 1.0,
                 top_k: int = -1, max_tokens: int | None = None) -> list[GenerationResult]:
        """Sample every request (submit all, step until done); results in input order.

        Args:
            requests: prompts with unique keys; a request's own ``sampling`` wins
                over the call's ``temperature``, ``top_p``, ``top_k``, ``max_tokens``.
        Returns:
            One :class:`GenerationResult` per request; a request the engine rejects has ``error`` set.
        Raises:
            EngineError: two requests share a key, requests are already in flight, or a
                request has no ``sampling`` and the call gives no ``temperature``/``max_tokens``.
        """
        keys = [r.key for r in requests]
        if len(set(keys)) != len(keys):
            raise EngineError("generate() needs unique request keys")
        if self.in_flight:
            raise EngineError("generate() cannot run while streamed requests are in flight")
        default = None
        if temperature is not None and max_tokens is not None:
            default = Sampling(temperature=temperature, max_tokens=max_tokens, top_p=top_p, top_k=top_k)
        results: dict[str, GenerationResult] = {}
        for r in requests:
            error = self.submit(dataclasses.replace(r, sampling=r.sampling or default))
            if error is not None:
                results[r.key] = error
        while self.in_flight:
            for res in self.step():
                results[res.key] = res
        return [results[k] for k in keys]


__all__ = ["ENGINE_BACKENDS", "GenerationRequest", "GenerationResult", "Sampling", "StreamingEngine", "item_seed"]
