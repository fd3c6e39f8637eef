"""A streaming engine double for pipeline tests that need exact control (next to the real-engine
tests in test_build_e2e.py): deterministic seeded answers, one request finished per step (FIFO)."""

from __future__ import annotations

import random
from collections import deque

from mmpr_builder.engines import GenerationResult
from mmpr_builder.items import Response


def seeded_answer(truth: str, seed: int, j: int) -> str:
    """Sample ``j`` of a request: about half state ``truth``, the others a wrong number."""
    rng = random.Random(seed * 1000 + j)
    answer = truth if rng.random() < 0.5 else str(int(rng.random() * 1000) + 1000)
    return f"Step {j}: we compute carefully ({rng.randrange(10**6)}). The answer is {answer}."


class FakeEngine:
    """``submit``/``step``/``in_flight`` like :class:`mmpr_builder.engines.vllm.Engine`.

    Args:
        truths: item id -> ground truth used by ``respond``.
        respond: ``(truth, seed, j) -> text`` of the j-th sample (default :func:`seeded_answer`).
    """

    model_name = "fake-engine"
    dtype = "float32"
    tokenizer = None

    def __init__(self, truths: dict[str, str], respond=seeded_answer):
        self.truths, self.respond = truths, respond
        self.queue: deque = deque()
        self.submitted: list = []

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def submit(self, req):
        self.queue.append(req)
        self.submitted.append(req)

    def step(self):
        req = self.queue.popleft()
        truth = self.truths.get(req.key.split("#")[0], "")
        texts = [self.respond(truth, req.seed, j) for j in range(req.n)]
        return [GenerationResult(req.key, [Response(t, "stop", len(t.split()), list(range(len(t.split()))))
                                           for t in texts])]
