"""The ``ray`` engine: sampling on a Ray cluster through Ray Data, an actor pool of vLLM engines.

``--engine ray --replicas N`` runs N copies of the model, each a Ray actor
holding one in-process :class:`~mmpr_builder.engines.vllm.Engine` (one per GPU,
or per tensor-parallel group of ``tensor_parallel_size`` GPUs; on a CPU build,
an equal share of the cluster's CPUs). Labelling, pairing and writing stay in
the driver (:func:`mmpr_builder.pipeline.run_stream` and its writer thread).

One Ray Data dataset serves the whole run, as a stream:

- the source is a Ray queue (``ray.util.queue.Queue``) that :meth:`RayEngine.submit`
  fills; its read task (zero CPUs) yields each request as its own block
  (pickled, so images and messages cross Ray unchanged) as soon as it is queued;
- ``map_batches`` over :class:`Replica` with an ``ActorPoolStrategy`` of
  ``replicas`` actors, each taking up to ``replica_inflight`` calls at once into
  its streaming engine (continuous batching; per-request seeds from
  :func:`~mmpr_builder.engines.base.item_seed`, ``n`` samples,
  ``continue_final_message``, images in ``multi_modal_data``);
- a driver thread iterates the dataset's output and hands each finished
  request to :meth:`RayEngine.step`.

Failures: a request vLLM rejects comes back with ``error`` (as in the ``vllm``
engine); a block whose sampling raises fails its requests alone; if the
dataset itself fails (a replica lost for good), every request in flight comes
back with ``error`` and the next :meth:`~RayEngine.submit` starts a new
dataset. Either way the build records those items in ``errors.jsonl`` and goes
on; a rerun skips committed items. Only a dataset that fails before returning
anything (the model does not load on the cluster) ends the build
(:class:`~mmpr_builder.errors.ModelError`).

Layout does not change which seed a request gets (its item's, from
:func:`~mmpr_builder.engines.base.item_seed`), whichever replica samples it. Its
texts (and so its pair ids) are those of the ``vllm`` engine when the kernels
are batch-invariant, as vLLM-CPU float32 was on an AVX-512 CPU (measured by
``benchmarks/probe_batch_invariance.py``; not established on AVX2-only CPUs;
tests/test_engine_ray.py checks it with one request per batch); on GPUs that
needs vLLM's batch-invariant mode (README, "Scaling out").

The ``ray`` ``[data]`` extra is needed (``pip install '.[ray]'``; ``make setup`` installs it).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import queue
import re
import threading
from pathlib import Path
from typing import Any

from mmpr_builder.build_config import EngineConfig
from mmpr_builder.engines.base import GenerationRequest, GenerationResult, StreamingEngine
from mmpr_builder.errors import ConfigError, EngineError, ModelError
from mmpr_builder.models.aliases import ModelSpec

log = logging.getLogger(__name__)

#: what the read task is told when the run is over
_END = b""


class Replica:
    """One vLLM engine in a Ray actor, called by Ray Data with blocks of pickled requests.

    Ray Data keeps up to ``replica_inflight`` calls open on each replica at once (a threaded
    actor); every call's requests go into the same streaming engine, which one thread steps
    (continuous batching, as in the ``vllm`` engine), and each call returns when its own
    requests are done. So a request's batch is whatever the replica holds at the time, never
    the shape of the Ray Data blocks.

    Args:
        spec, config, seed: as for :class:`~mmpr_builder.engines.vllm.Engine` (``config.dtype`` resolved).
    """

    def __init__(self, spec: ModelSpec, config: EngineConfig, seed: int):
        from mmpr_builder.engines.vllm import Engine

        self.engine = Engine(spec, config, seed=seed)
        self._start_stepping()

    def _start_stepping(self) -> None:
        """Start the thread that alone drives the engine (vLLM's engine is not thread-safe)."""
        self._lock = threading.Condition()
        self._incoming: list[GenerationRequest] = []  # from open calls, not yet submitted
        self._done: dict[str, GenerationResult] = {}  # finished, not yet taken by their call
        threading.Thread(target=self._step_forever, name="mmpr-replica-step", daemon=True).start()

    def _step_forever(self) -> None:
        pending: set[str] = set()  # submitted to the engine, not finished
        while True:
            with self._lock:
                while not self._incoming and not pending:
                    self._lock.wait()
                incoming, self._incoming = self._incoming, []
            finished = []
            for r in incoming:
                rejected = self.engine.submit(r)
                if rejected is not None:
                    finished.append(rejected)
                else:
                    pending.add(r.key)
            if pending:
                try:
                    stepped = self.engine.step()
                except Exception as e:  # noqa: BLE001 - fail what is open, keep the replica
                    log.error("replica step failed: %s: %s", type(e).__name__, e)
                    stepped = [GenerationResult(k, error=f"{type(e).__name__}: {e}") for k in pending]
                for r in stepped:
                    if r.key in pending:
                        pending.discard(r.key)
                        finished.append(r)
            if finished:
                with self._lock:
                    self._done.update((r.key, r) for r in finished)
                    self._lock.notify_all()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        """Sample a block: column ``request`` (pickled :class:`GenerationRequest`, sampling set) in,
        column ``result`` (pickled :class:`GenerationResult`, same order) out. Never raises."""
        requests = [pickle.loads(blob) for blob in batch["request"]]
        with self._lock:
            self._incoming.extend(requests)
            self._lock.notify_all()
            while not all(r.key in self._done for r in requests):
                self._lock.wait()
            results = [self._done.pop(r.key) for r in requests]
        return {"result": [pickle.dumps(r) for r in results]}


def _read_queue(requests, batch_size: int):
    """The read task: blocks of what ``requests`` holds (waits for the first), until ``_END``."""
    import pyarrow as pa
    from ray.util.queue import Empty

    while True:
        blobs = [requests.get()]
        while len(blobs) < batch_size and blobs[-1] != _END:
            try:
                blobs.append(requests.get(block=False))
            except Empty:
                break
        end = blobs[-1] == _END
        if end:
            blobs.pop()
        if blobs:
            yield pa.table({"request": pa.array(blobs, type=pa.binary())})
        if end:
            return


def _queue_source(requests, batch_size: int):
    """A Ray Data datasource with one read task reading ``requests`` (see :func:`_read_queue`)."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class QueueSource(Datasource):
        def estimate_inmemory_data_size(self):
            return None

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
            return [ReadTask(lambda: _read_queue(requests, batch_size), meta)]

    return QueueSource()


def _root_cause(error: BaseException) -> str:
    """The replica's own exception (``Type: message``) inside a Ray error, else Ray's first line.

    Ray wraps a replica's exception in ``RayTaskError``/``UserCodeException`` whose text holds the
    remote traceback; its first ``SomethingError: ...`` line is the replica's own exception.
    """
    text = str(error).strip()
    for line in text.splitlines():
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", line) and not line.startswith("ray."):
            return line.strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


class RayEngine(StreamingEngine):
    """Requests sampled by ``config.replicas`` vLLM replicas on a Ray cluster (see the module doc).

    Args:
        spec: the model; each node must reach ``spec.path`` (a shared folder or a Hub id).
        config: ``ray_address`` (None: join the Ray runtime this process already started,
            else start a local cluster with all this machine's CPUs), ``replicas``,
            ``replica_inflight``, and the ``vllm`` arguments each replica gets.
        seed: the run seed.
        replica: the actor class (tests pass a double; it must be importable on the workers).
    Attributes:
        dtype: the dtype every replica runs (resolved here, as the ``vllm`` engine does).
        tokenizer: the model's tokenizer, loaded in the driver from ``spec.path``.
    Raises:
        ConfigError: Ray (with Ray Data) is not installed, or the cluster has too few GPUs/CPUs.
        ModelError: the tokenizer cannot be loaded.
    """

    def __init__(self, spec: ModelSpec, config: EngineConfig, seed: int = 0, *, replica: type = Replica):
        try:
            import ray
            import ray.data  # noqa: F401
        except ImportError as e:
            raise ConfigError("the ray engine needs Ray Data: pip install '.[ray]' (or 'ray[data]')") from e
        from mmpr_builder.engines.openai import _load_tokenizer
        from mmpr_builder.engines.vllm import is_cpu_build
        from mmpr_builder.hardware import resolve_dtype

        self.spec, self.seed, self._replica = spec, seed, replica
        self.model_name = spec.name
        self._cpu = is_cpu_build()
        self.dtype = resolve_dtype(config.dtype, cpu_build=self._cpu)
        self.config = dataclasses.replace(config, dtype=self.dtype)
        self.tokenizer = _load_tokenizer(spec)
        self._own_cluster = False
        if not ray.is_initialized():
            package_root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
            # the replicas import this package and see the driver's vLLM settings (VLLM_CPU_KVCACHE_SPACE, ...)
            env = {k: v for k, v in os.environ.items() if k.startswith("VLLM_")}
            runtime_env = {"env_vars": {**env, "PYTHONPATH": path}}
            if config.ray_address:
                ray.init(address=config.ray_address, runtime_env=runtime_env, log_to_driver=False)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, runtime_env=runtime_env,
                         log_to_driver=False)
            self._own_cluster = True  # this process's connection: close() ends it
        self._actor_resources = self._resources(ray.cluster_resources())
        self._results: queue.Queue = queue.Queue()
        self._in_flight: dict[str, GenerationRequest] = {}
        self._requests = None  # the Ray queue feeding the running dataset (None: not started)
        self._reader: threading.Thread | None = None
        self._any_result = False

    def _resources(self, cluster: dict[str, float]) -> dict[str, float]:
        """Per-replica resources: ``tensor_parallel_size`` GPUs; on a CPU build an equal share of the CPUs."""
        replicas, tp = self.config.replicas, self.config.tensor_parallel_size
        if self._cpu:
            share = float(cluster.get("CPU", 0)) / replicas
            if share < 1:
                raise ConfigError(f"engine.replicas: {replicas} replicas need at least {replicas} CPUs in the Ray "
                                  f"cluster, it has {cluster.get('CPU', 0):g}")
            return {"num_cpus": int(share), "num_gpus": 0}
        if cluster.get("GPU", 0) < replicas * tp:
            raise ConfigError(f"engine.replicas: {replicas} replicas x tensor_parallel_size {tp} need "
                              f"{replicas * tp} GPUs, the Ray cluster has {cluster.get('GPU', 0):g}")
        return {"num_cpus": 1, "num_gpus": tp}

    # -- the dataset -----------------------------------------------------------------------
    def _start(self) -> None:
        import ray.data
        from ray.util.queue import Queue

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        # blocks leave the read task as soon as they are yielded (Ray Data otherwise buffers rows
        # up to a block size): one request per block, so no request waits for others to arrive
        ctx.target_max_block_size = 1
        self._requests = Queue(actor_options={"num_cpus": 0})
        source = _queue_source(self._requests, 1)
        ds = ray.data.read_datasource(source, override_num_blocks=1, num_cpus=0)
        k = self.config.replica_inflight
        pool = ray.data.ActorPoolStrategy(size=self.config.replicas, max_tasks_in_flight_per_actor=k)
        ds = ds.map_batches(self._replica, fn_constructor_args=(self.spec, self.config, self.seed), batch_size=None,
                            compute=pool, max_concurrency=k, **self._actor_resources)
        self._reader = threading.Thread(target=self._read, args=(ds, self._results), name="mmpr-ray", daemon=True)
        self._reader.start()

    @staticmethod
    def _read(ds, results: queue.Queue) -> None:
        try:
            for batch in ds.iter_batches(batch_size=None, prefetch_batches=0):
                for blob in batch["result"]:
                    results.put(pickle.loads(blob))
        except BaseException as e:  # noqa: BLE001 - handed to step()
            results.put(e)
        else:
            results.put(None)

    # -- streaming -------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> GenerationResult | None:
        """Queue one request for the replicas (``request.sampling`` must be set); always None.

        Raises:
            EngineError: no sampling settings, or the key is already in flight.
        """
        if request.sampling is None:
            raise EngineError(f"request {request.key!r} has no sampling settings")
        if request.key in self._in_flight:
            raise EngineError(f"request {request.key!r} is already in flight")
        if self._requests is None:
            self._start()
        self._in_flight[request.key] = request
        self._requests.put(pickle.dumps(request))
        return None

    @property
    def in_flight(self) -> int:
        """Requests submitted and not yet returned by :meth:`step`."""
        return len(self._in_flight)

    def step(self) -> list[GenerationResult]:
        """Wait for at least one finished request; return every one finished by then (any order).

        If the dataset failed, every request in flight is returned with ``error`` set.

        Raises:
            ModelError: the dataset failed before any request finished (the replicas cannot start).
        """
        if not self._in_flight:
            return []
        done = []
        msg = self._results.get()
        while True:
            if isinstance(msg, GenerationResult):
                if self._in_flight.pop(msg.key, None) is not None:
                    self._any_result = True
                    done.append(msg)
            else:  # the dataset ended (None) or failed: what is still in flight is lost
                done += self._fail_in_flight(msg)
                break
            try:
                msg = self._results.get_nowait()
            except queue.Empty:
                break
        return done

    def _fail_in_flight(self, cause: BaseException | None) -> list[GenerationResult]:
        self._requests, self._reader = None, None
        reason = _root_cause(cause) if cause is not None else "the Ray dataset ended early"
        if not self._any_result:
            raise ModelError(f"the ray engine failed before sampling anything ({reason})") from cause
        log.error("Ray dataset failed (%s); failing %d requests in flight", reason, len(self._in_flight))
        failed = [GenerationResult(key, error=f"ray: {reason}") for key in self._in_flight]
        self._in_flight.clear()
        return failed

    def close(self) -> None:
        """End the dataset (its replicas exit) and the Ray connection this engine opened (a local
        cluster it started stops; a cluster joined by ``ray_address`` keeps running)."""
        import ray

        if self._requests is not None:
            self._requests.put(_END)
            if self._reader is not None:
                self._reader.join(timeout=120)
            self._requests = self._reader = None
        if self._own_cluster and ray.is_initialized():  # stops a local cluster; leaves a remote one running
            ray.shutdown()
            self._own_cluster = False


__all__ = ["RayEngine", "Replica"]
