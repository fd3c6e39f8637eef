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
        return [self.step_one(self.queue.popleft())]

    def step_one(self, req):
        """The result of one request (see ``respond``)."""
        truth = self.truths.get(req.key.split("#")[0], "")
        texts = [self.respond(truth, req.seed, j) for j in range(req.n)]
        return GenerationResult(req.key, [Response(t, "stop", len(t.split()), list(range(len(t.split()))))
                                          for t in texts])


class _RejectingEngine(FakeEngine):
    """:class:`FakeEngine` answering with truth ``42``; a request whose item id holds ``failrow``
    is rejected at submit (as vLLM rejects a bad image)."""

    def __init__(self):
        super().__init__({}, respond=lambda _, seed, j: seeded_answer("42", seed, j))

    def submit(self, req):
        if "failrow" in req.key:
            return GenerationResult(req.key, error="ValueError: bad image")
        return super().submit(req)


def fake_replica():
    """A :class:`mmpr_builder.engines.ray.Replica` double over :class:`_RejectingEngine`
    (imports Ray's engine module lazily). A block holding an item id with ``crash`` raises out
    of the replica: the Ray dataset fails, as when a replica is lost for good.
    """
    from mmpr_builder.engines.ray import Replica

    class FakeReplica(Replica):
        def __init__(self, spec, config, seed):
            self.engine = _RejectingEngine()
            self._start_stepping()

        def __call__(self, batch):
            import pickle

            if any("crash" in pickle.loads(b).key for b in batch["request"]):
                raise RuntimeError("replica lost")
            return super().__call__(batch)

    return FakeReplica
