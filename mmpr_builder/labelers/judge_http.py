"""The ``openai`` judge backend: an OpenAI-compatible ``/chat/completions`` endpoint.

Used by :func:`mmpr_builder.labelers.judge.make_judge`. The ``openai`` package
is used when importable (its own retries off), else ``httpx``; both send the
same request (one user message, temperature 0, ``max_tokens``). The API key is
read from ``os.environ[config.api_key_env]`` at call time and never stored on an
object, logged or included in an error (when the variable is unset no key is
sent; the ``openai`` client then gets the placeholder ``EMPTY``, as vLLM's
server expects).

Retry policy: a timeout, a connection error, HTTP 429 or any 5xx is retried up
to ``config.max_retries`` times, waiting ``retry_backoff_s * 2**attempt``
seconds; other HTTP errors and malformed replies fail at once. Requests run on
up to 8 threads.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from mmpr_builder.errors import ConfigError

__all__ = ["openai_call", "RetryableError", "MAX_WORKERS"]

MAX_WORKERS = 8


class RetryableError(Exception):
    """A failure worth retrying (timeout, connection error, 429, 5xx)."""


def _key(config) -> str | None:
    return os.environ.get(config.api_key_env) or None


def _payload(config, prompt: str) -> dict:
    return {"model": config.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0.0,
            "max_tokens": config.max_tokens}


def _content(choices) -> str:
    """The first choice's message text; ValueError when the reply has none."""
    try:
        first = choices[0]
        msg = first["message"] if isinstance(first, dict) else first.message
        text = msg["content"] if isinstance(msg, dict) else msg.content
    except (IndexError, KeyError, TypeError, AttributeError) as e:
        raise ValueError("malformed chat-completions reply (no choices[0].message.content)") from e
    if not isinstance(text, str):
        raise ValueError("malformed chat-completions reply (content is %s)" % type(text).__name__)
    return text


def _via_httpx(config) -> Callable[[str], str]:
    import httpx

    url = config.base_url.rstrip("/") + "/chat/completions"

    def one(prompt: str) -> str:
        key = _key(config)
        headers = {"Authorization": "Bearer " + key} if key else {}
        try:
            r = httpx.post(url, json=_payload(config, prompt), headers=headers, timeout=config.timeout_s)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            raise RetryableError("%s: %s" % (type(e).__name__, e)) from None
        if r.status_code == 429 or r.status_code >= 500:
            raise RetryableError("HTTP %d from %s" % (r.status_code, url))
        if r.status_code != 200:
            raise RuntimeError("HTTP %d from %s: %s" % (r.status_code, url, r.text[:200]))
        try:
            data = r.json()
        except ValueError:
            raise ValueError("malformed chat-completions reply (not JSON)") from None
        return _content(data.get("choices") if isinstance(data, dict) else None)

    return one


def _via_openai(config) -> Callable[[str], str]:
    import openai

    def one(prompt: str) -> str:
        client = openai.OpenAI(api_key=_key(config) or "EMPTY", base_url=config.base_url,
                               timeout=config.timeout_s, max_retries=0)
        try:
            resp = client.chat.completions.create(**_payload(config, prompt))
        except (openai.APITimeoutError, openai.APIConnectionError) as e:
            raise RetryableError("%s: %s" % (type(e).__name__, e)) from None
        except openai.APIStatusError as e:
            if e.status_code == 429 or e.status_code >= 500:
                raise RetryableError("HTTP %d from %s" % (e.status_code, config.base_url)) from None
            raise RuntimeError("HTTP %d from %s" % (e.status_code, config.base_url)) from None
        except openai.APIError as e:  # a 200 reply the client cannot read
            raise ValueError("malformed chat-completions reply (%s)" % type(e).__name__) from None
        return _content(getattr(resp, "choices", None))

    return one


def openai_call(config, *, transport: str = "auto", sleep: Callable[[float], None] = time.sleep):
    """A ``call(prompts) -> [reply text | exception]`` for :class:`~.judge.Judge`.

    Args:
        config: a :class:`~.judge.JudgeConfig` with backend ``openai``.
        transport: ``auto``, ``openai`` or ``httpx`` (see the module doc).
        sleep: receives each retry delay in seconds.
    Raises:
        ValueError: unknown ``transport``.
        ConfigError: neither ``openai`` nor ``httpx`` is installed.
    """
    if transport not in ("auto", "openai", "httpx"):
        raise ValueError("transport must be auto, openai or httpx, got %r" % transport)
    use_openai = transport == "openai" or (transport == "auto" and importlib.util.find_spec("openai") is not None)
    if importlib.util.find_spec("openai" if use_openai else "httpx") is None:
        raise ConfigError("labeler.judge backend openai needs the `openai` or `httpx` package: pip install httpx")
    one = _via_openai(config) if use_openai else _via_httpx(config)

    def with_retries(prompt: str):
        for attempt in range(config.max_retries + 1):
            try:
                return one(prompt)
            except RetryableError as e:
                if attempt == config.max_retries:
                    return RuntimeError("gave up after %d attempts: %s" % (attempt + 1, e))
                sleep(config.retry_backoff_s * 2 ** attempt)
            except Exception as e:  # noqa: BLE001 - one failed call is one missing verdict
                return e
        return RuntimeError("unreachable")

    def call(prompts: list[str]) -> list:
        if len(prompts) <= 1:
            return [with_retries(p) for p in prompts]
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(prompts))) as pool:
            return list(pool.map(with_retries, prompts))

    return call
