"""The ``openai`` engine: sampling from any OpenAI-compatible chat-completions server.

A ``vllm serve`` fleet behind a load balancer, SGLang, lmdeploy or a hosted API
(``--engine openai --base-url URL``). It fits the streaming contract of
:class:`~mmpr_builder.engines.base.StreamingEngine`: :meth:`OpenAIEngine.submit`
hands a request to a pool of ``max_concurrency`` threads (at most that many
HTTP requests open at once), :meth:`OpenAIEngine.step` waits briefly for one to
finish and returns every finished one.

One request = one ``POST {base_url}/chat/completions`` through the ``openai``
client (its own retries off) with:

- ``n`` samples, ``temperature``, ``top_p``, ``max_tokens`` and the request's
  own ``seed``; ``top_k`` (a vLLM/SGLang extension) only when set;
- images as data URLs (``data:image/png;base64,...``, lossless PNG of the decoded image);
- DropoutNTP continuations (the last message an unfinished assistant turn) with
  vLLM's request fields ``continue_final_message: true`` and
  ``add_generation_prompt: false``. A server that refuses them (HTTP 400/422)
  fails that request with a message saying so (DropoutNTP needs a vLLM-compatible
  server); other requests go on.

Retries: a timeout, connection error, HTTP 429 or 5xx is retried up to
``max_retries`` times after ``retry_backoff_s * 2**attempt`` seconds; then, as
for other HTTP errors and malformed replies (not JSON, no choices, fewer than
``n`` choices, no text), the request fails alone with an error naming the item.

Tokens: each result records the server's ``usage`` (``prompt_tokens``,
``completion_tokens``). A response's ``token_ids`` are its text encoded with the
model's tokenizer (loaded from ``--model``, which must name the served weights:
a folder, alias or Hub id), and ``num_tokens`` their count, except that with
``n = 1`` the server's ``completion_tokens`` is used.

The API key is read from the environment variable named by ``api_key_env`` when
the engine starts and handed only to the ``openai`` client; it is never stored
in the config, logged, written to provenance or included in an error.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from mmpr_builder.build_config import EngineConfig
from mmpr_builder.engines.base import GenerationRequest, GenerationResult, StreamingEngine
from mmpr_builder.errors import ConfigError, EngineError, ModelError
from mmpr_builder.items import Response
from mmpr_builder.labelers.judge_http import RetryableError
from mmpr_builder.models.aliases import ModelSpec

log = logging.getLogger(__name__)

#: what a server that does not know vLLM's continuation fields is told, and the user
CONTINUATION_HINT = ("the server rejected continue_final_message/add_generation_prompt (vLLM request fields "
                     "that DropoutNTP continuations need): use a vLLM-compatible server, or methods: [correctness]")


class MalformedReply(ValueError):
    """A 200 reply that is not a usable chat completion."""


def image_data_url(image) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URL (lossless; RGB or L kept, others converted to RGB)."""
    if image.mode not in ("RGB", "L", "RGBA"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages with ``image_pil`` parts turned into ``image_url`` data-URL parts (others unchanged)."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = [{"type": "image_url", "image_url": {"url": image_data_url(part["image_pil"])}}
                       if part.get("type") == "image_pil" else part for part in content]
        out.append({**m, "content": content})
    return out


class OpenAIEngine(StreamingEngine):
    """Requests to an OpenAI-compatible server, ``config.max_concurrency`` at a time.

    Args:
        spec: the model: its tokenizer is loaded from ``spec.path``; the name sent to the
            server is ``config.served_model`` or ``spec.path``.
        config: ``base_url``, ``api_key_env``, ``served_model``, ``max_concurrency``,
            ``request_timeout_s``, ``max_retries``, ``retry_backoff_s``.
        tokenizer: use this tokenizer instead of loading one from ``spec.path``.
        sleep: receives each retry delay in seconds (tests pass a no-op).
    Attributes:
        model_name: recorded in each row (``spec.name``). dtype: ``server`` (unknown here).
    Raises:
        ConfigError: no ``base_url``, or the ``openai`` package is missing.
        ModelError: the tokenizer cannot be loaded from ``spec.path``.
    """

    dtype = "server"

    def __init__(self, spec: ModelSpec, config: EngineConfig, *, tokenizer=None,
                 sleep: Callable[[float], None] = time.sleep):
        if not config.base_url:
            raise ConfigError("engine.base_url (--base-url): the openai engine needs the server's URL")
        try:
            import openai
        except ImportError as e:
            raise ConfigError("the openai engine needs the `openai` package: pip install openai") from e
        self.spec, self.config, self._sleep = spec, config, sleep
        self.model_name = spec.name
        self.served_model = config.served_model or spec.path
        self.tokenizer = tokenizer if tokenizer is not None else _load_tokenizer(spec)
        self._client = openai.OpenAI(api_key=os.environ.get(config.api_key_env) or "EMPTY",
                                     base_url=config.base_url, timeout=config.request_timeout_s, max_retries=0)
        self._pool = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="mmpr-openai")
        self._futures: set[Future] = set()
        self._warned = threading.Event()

    # -- streaming ------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> GenerationResult | None:
        """Queue one request; it runs on the thread pool (see the module doc). Always returns None.

        Raises:
            EngineError: ``request.sampling`` is not set.
        """
        if request.sampling is None:
            raise EngineError(f"request {request.key!r} has no sampling settings")
        self._futures.add(self._pool.submit(self._run, request))
        return None

    @property
    def in_flight(self) -> int:
        """Requests submitted and not yet returned by :meth:`step`."""
        return len(self._futures)

    def step(self, timeout: float | None = 0.1) -> list[GenerationResult]:
        """Wait until at least one request has finished or ``timeout`` seconds passed; return all finished ones.

        The short default wait lets the build's engine thread hand over new work (DropoutNTP
        continuations, new items) while requests are still running on the server.
        """
        if not self._futures:
            return []
        done, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        self._futures -= done
        return [f.result() for f in done]

    def close(self) -> None:
        """Stop the thread pool (waits for requests still running) and close the HTTP client."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    # -- one request ------------------------------------------------------------------------
    def _run(self, request: GenerationRequest) -> GenerationResult:
        """Send ``request`` with retries; never raises (a failure is the result's ``error``)."""
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._once(request)
            except RetryableError as e:
                if attempt + 1 == attempts:
                    return GenerationResult(request.key, error=f"gave up after {attempts} attempts: {e}")
                self._sleep(self.config.retry_backoff_s * 2 ** attempt)
            except MalformedReply as e:
                return GenerationResult(request.key, error=f"item {request.key}: {e}")
            except Exception as e:  # noqa: BLE001 - one failed request fails alone
                return GenerationResult(request.key, error=f"{type(e).__name__}: {e}")
        raise AssertionError("unreachable")

    def _payload(self, request: GenerationRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """The standard request fields and the extensions (``extra_body``)."""
        s = request.sampling
        body = {"model": self.served_model, "messages": to_openai_messages(request.messages), "n": request.n,
                "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens, "seed": request.seed}
        extra: dict[str, Any] = {}
        if s.top_k != -1:
            extra["top_k"] = s.top_k
        if request.continue_final_message:
            extra.update(continue_final_message=True, add_generation_prompt=False)
        return body, extra

    def _once(self, request: GenerationRequest) -> GenerationResult:
        import openai

        body, extra = self._payload(request)
        where = self.config.base_url
        try:
            raw = self._client.chat.completions.with_raw_response.create(**body, extra_body=extra or None)
        except (openai.APITimeoutError, openai.APIConnectionError) as e:
            raise RetryableError(f"{type(e).__name__} from {where}") from None
        except openai.APIStatusError as e:
            if e.status_code == 429 or e.status_code >= 500:
                raise RetryableError(f"HTTP {e.status_code} from {where}") from None
            detail = _detail(e)
            if request.continue_final_message and e.status_code in (400, 422):
                if not self._warned.is_set():
                    self._warned.set()
                    log.error("%s (HTTP %d from %s: %s)", CONTINUATION_HINT, e.status_code, where, detail)
                raise EngineError(f"{CONTINUATION_HINT} (HTTP {e.status_code}: {detail})") from None
            raise EngineError(f"HTTP {e.status_code} from {where}: {detail}") from None
        try:
            data = raw.http_response.json()
        except ValueError:
            raise MalformedReply("malformed chat-completions reply (not JSON)") from None
        return self._result(request, data)

    def _result(self, request: GenerationRequest, data: Any) -> GenerationResult:
        """Check a reply's JSON and turn it into a result. Raises MalformedReply."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or len(choices) != request.n:
            got = len(choices) if isinstance(choices, list) else "no"
            raise MalformedReply(f"malformed chat-completions reply ({got} choices, asked {request.n})")
        texts, reasons = [], []
        for c in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            msg = c.get("message") if isinstance(c, dict) else None
            text = msg.get("content") if isinstance(msg, dict) else None
            if not isinstance(text, str):
                raise MalformedReply("malformed chat-completions reply (a choice has no message.content text)")
            texts.append(text)
            reasons.append(c.get("finish_reason") or "stop")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        responses = []
        for text, reason in zip(texts, reasons):
            ids = self.tokenizer.encode(text, add_special_tokens=False) if self.tokenizer is not None else None
            count = completion_tokens if request.n == 1 and isinstance(completion_tokens, int) else len(ids or [])
            responses.append(Response(text=text, finish_reason=reason, num_tokens=count, token_ids=ids))
        return GenerationResult(request.key, responses,
                                prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
                                completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None)


def _detail(e) -> str:
    """A short text of an API error body (no request headers, so no key)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    return str(body if body is not None else e)[:300]


def _load_tokenizer(spec: ModelSpec):
    """The model's tokenizer from ``spec.path`` (folder or Hub id). Raises ModelError."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(spec.path, trust_remote_code=spec.trust_remote_code)
    except Exception as e:  # noqa: BLE001 - many loader errors; name the model
        raise ModelError(f"cannot load the tokenizer of {spec.name!r} from {spec.path} ({type(e).__name__}: {e}); "
                         "--model must name the served model's weights (folder, alias or Hub id)") from e


__all__ = ["OpenAIEngine", "CONTINUATION_HINT", "image_data_url", "to_openai_messages"]
