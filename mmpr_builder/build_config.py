"""One ``BuildConfig`` for a build: the recipe, the engine arguments and the run options.

Layering (as TRL's parser): dataclass defaults, then the recipe YAML, then a
``--config FILE`` (recipe fields at the top level, plus ``engine:`` and
``run:`` mappings), then command-line flags. :meth:`BuildConfig.validate`
checks every setting before anything touches the disk, the network or the
engine: a bad value is a :class:`~mmpr_builder.errors.ConfigError` naming the
field (the CLI exits with status 2), and the output folder is left as it was.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpr_builder.config import METHOD_NAMES, Recipe, merge, read_yaml
from mmpr_builder.errors import ConfigError
from mmpr_builder.hardware import DTYPES

_HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_URL = re.compile(r"^https?://[^\s/]+")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class EngineConfig:
    """The engine backend and its arguments (the ``engine:`` mapping and the engine flags).

    ``backend`` picks the implementation (:mod:`mmpr_builder.engines`); the
    ``vllm.LLM`` arguments apply to backends ``vllm`` and ``ray`` (each replica),
    ``ray_address`` ... ``replica_inflight`` to backend ``ray``, the server fields
    (``base_url`` ... ``retry_backoff_s``) to backend ``openai``. None means "the model
    family's or alias's value" (layering: :mod:`mmpr_builder.engine_args`).
    """

    backend: str = field(default="vllm", metadata={"help": "vllm (in-process), ray (vLLM replicas on a Ray cluster) or openai (an OpenAI-compatible server)"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per model replica (vLLM tensor parallel)"})
    max_model_len: int | None = field(default=None, metadata={"help": "context length in tokens (None = model's alias default)"})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "share of GPU memory vLLM may take"})
    dtype: str = field(default="auto", metadata={"help": "auto (CPU: float32 unless the CPU has native bfloat16), bfloat16, float16, float32"})
    limit_mm_per_prompt: int | None = field(default=None, metadata={"help": "most images per prompt (None = alias default)"})
    trust_remote_code: bool | None = field(default=None, metadata={"help": "allow model code from the Hub (None = alias default)"})
    enforce_eager: bool | None = field(default=None, metadata={"help": "disable graph capture (None = on for CPU)"})
    ray_address: str | None = field(default=None, metadata={"help": "Ray cluster to join, e.g. ray://head:10001 or auto (None: start a local one; backend ray)"})
    replicas: int = field(default=1, metadata={"help": "copies of the model (backend ray): one per GPU or tensor-parallel group; on CPU, each gets an equal share of the cores"})
    replica_inflight: int = field(default=256, metadata={"help": "most requests one replica holds at once (Ray Data calls open on it; backend ray)"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server, e.g. http://host:8000/v1 (backend openai)"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "NAME of the environment variable holding the server's API key (the key is never written)"})
    served_model: str | None = field(default=None, metadata={"help": "model name sent to the server (None: the --model's path or id)"})
    max_concurrency: int = field(default=32, metadata={"help": "most requests open at once against the server"})
    request_timeout_s: float = field(default=600.0, metadata={"help": "seconds one server request may take before it is retried"})
    max_retries: int = field(default=5, metadata={"help": "retries of a request after a timeout, connection error, 429 or 5xx"})
    retry_backoff_s: float = field(default=1.0, metadata={"help": "first retry delay (seconds); doubles each retry"})
    stop_tokens: list[str] | None = field(default=None, metadata={"help": "end-of-turn tokens to stop at, as token strings (None = the model family's; [] = only EOS)"})
    extra_args: dict[str, Any] = field(default_factory=dict, metadata={"help": "further vllm.EngineArgs fields (--engine-arg KEY=VALUE); they win over the family's and mmpr's values, mappings merge key by key"})


@dataclass
class RunConfig:
    """Where and how one build runs (the ``run:`` mapping and the run flags)."""

    out_dir: str = field(default="", metadata={"help": "output folder (empty: out/<recipe name>)"})
    model: str | None = field(default=None, metadata={"help": "model alias, Hub id or folder (None: the embedded model)"})
    limit: int | None = field(default=None, metadata={"help": "take the first N source rows"})
    seed: int = field(default=0, metadata={"help": "run seed; item seeds derive from it and the item id"})
    overwrite: bool = field(default=False, metadata={"help": "replace an output folder made with other settings"})
    inflight_items: int = field(default=256, metadata={"help": "items in the engine at once (more keeps a GPU busier; memory grows with it)"})
    commit_interval_s: float = field(default=2.0, metadata={"help": "commit finished items at least this often (seconds); a kill loses at most the items finished since"})
    max_shard_mb: float = field(default=500.0, metadata={"help": "roll shards at this size (MB)"})
    max_shard_rows: int | None = field(default=None, metadata={"help": "roll shards at this many rows"})
    push_to_hub: str | None = field(default=None, metadata={"help": "upload shards to this Hub dataset (org/name) as they close"})
    private: bool = field(default=False, metadata={"help": "create the Hub dataset as private"})
    shard: str | None = field(default=None, metadata={"help": "I/N: take only the items whose id hashes to I of N (sharded runs)"})

    @property
    def shard_spec(self):
        """The parsed ``shard`` (:class:`~mmpr_builder.sharding.ShardSpec`) or None. Raises ConfigError if malformed."""
        from mmpr_builder.sharding import ShardSpec

        return None if self.shard is None else ShardSpec.parse(self.shard)

    def output_dir(self, recipe_name: str) -> Path:
        """The output folder: ``out_dir``, or ``out/<recipe_name>`` when empty."""
        return Path(self.out_dir) if self.out_dir else Path("out") / recipe_name


@dataclass
class BuildConfig:
    """Everything one ``mmpr build`` needs: ``recipe`` + ``engine`` + ``run``."""

    recipe: Recipe
    engine: EngineConfig = field(default_factory=EngineConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def out_dir(self) -> Path:
        """The output folder (see :meth:`RunConfig.output_dir`)."""
        return self.run.output_dir(self.recipe.name)

    def validate(self) -> None:
        """Check every setting; read-only (nothing is written, created or deleted).

        Checks: sampling, labeler (answer type, tolerance), pairing limits and
        shares, DropoutNTP ratio, the prompt template's fields, the source (path
        exists and its format is readable), the model name, the engine
        arguments, the run options, and the output folder's state (a folder
        built with other settings, or holding files that are not mmpr's, is
        refused unless ``overwrite``).

        Raises:
            ConfigError: the first bad field, named (``sampling.top_p: ...``).
            OutputError / ModelError: the output folder or the model cannot be used.
        """
        from mmpr_builder.models.aliases import check_model_name
        from mmpr_builder.prompt import check_template
        from mmpr_builder.sources import resolve_source

        _check_recipe(self.recipe)
        check_template(self.recipe.prompt.template)
        resolve_source(self.recipe.source, self.recipe.base_dir)
        check_model_name(self.run.model)
        _check_engine(self.engine)
        _check_run(self.run)


def _need(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name}: must be {rule}, got {value!r}")


def _check_recipe(r: Recipe) -> None:
    from mmpr_builder.labelers.answers import validate_answer_type
    from mmpr_builder.labelers.extract import resolve_extraction

    s, lab, p, d = r.sampling, r.labeler, r.pairing, r.dropout_ntp
    _need(bool(r.methods) and set(r.methods) <= set(METHOD_NAMES), "methods",
          f"a non-empty subset of {', '.join(METHOD_NAMES)}", r.methods)
    _need(s.num_samples >= 1, "sampling.num_samples", ">= 1", s.num_samples)
    _need(s.temperature >= 0, "sampling.temperature", ">= 0", s.temperature)
    _need(0 < s.top_p <= 1, "sampling.top_p", "in (0, 1]", s.top_p)
    _need(s.top_k == -1 or s.top_k >= 1, "sampling.top_k", "-1 (off) or >= 1", s.top_k)
    _need(s.max_tokens >= 1, "sampling.max_tokens", ">= 1", s.max_tokens)
    try:
        validate_answer_type(lab.answer_type)
    except ConfigError as e:
        raise ConfigError(f"labeler.answer_type: {e}") from None
    _need(0 <= lab.rel_tol < 1, "labeler.rel_tol", "in [0, 1)", lab.rel_tol)
    try:
        resolve_extraction(lab.extraction, lab.allow_weak)
    except ConfigError as e:
        raise ConfigError(f"labeler.extraction: {e}") from None
    _need(p.max_pairs_per_item >= 1, "pairing.max_pairs_per_item", ">= 1", p.max_pairs_per_item)
    _need(0 <= p.format_negative_share <= 1, "pairing.format_negative_share", "in [0, 1]", p.format_negative_share)
    _need(0 < p.repetition_threshold <= 1, "pairing.repetition_threshold", "in (0, 1]", p.repetition_threshold)
    _need(0 < d.ratio < 1, "dropout_ntp.ratio", "in (0, 1)", d.ratio)
    _need(d.temperature >= 0, "dropout_ntp.temperature", ">= 0", d.temperature)
    _need(0 < d.top_p <= 1, "dropout_ntp.top_p", "in (0, 1]", d.top_p)
    _need(d.num_chosen >= 1, "dropout_ntp.num_chosen", ">= 1", d.num_chosen)


def _check_engine(e: EngineConfig) -> None:
    from mmpr_builder.engines import ENGINE_BACKENDS

    _need(e.backend in ENGINE_BACKENDS, "engine.backend (--engine)", f"one of {', '.join(ENGINE_BACKENDS)}", e.backend)
    _need(e.tensor_parallel_size >= 1, "engine.tensor_parallel_size", ">= 1", e.tensor_parallel_size)
    _need(e.max_model_len is None or e.max_model_len >= 16, "engine.max_model_len", ">= 16 tokens", e.max_model_len)
    _need(0 < e.gpu_memory_utilization <= 1, "engine.gpu_memory_utilization", "in (0, 1]", e.gpu_memory_utilization)
    _need(e.dtype in DTYPES, "engine.dtype", f"one of {', '.join(DTYPES)}", e.dtype)
    _need(e.limit_mm_per_prompt is None or e.limit_mm_per_prompt >= 1, "engine.limit_mm_per_prompt", ">= 1",
          e.limit_mm_per_prompt)
    _need(e.replicas >= 1, "engine.replicas (--replicas)", ">= 1", e.replicas)
    _need(e.replica_inflight >= 1, "engine.replica_inflight", ">= 1", e.replica_inflight)
    _need(e.ray_address is None or bool(e.ray_address.strip()), "engine.ray_address (--ray-address)",
          "a Ray address (host:port, ray://host:port or auto)", e.ray_address)
    if e.backend == "openai":
        _need(bool(e.base_url) and bool(_URL.match(e.base_url)), "engine.base_url (--base-url)",
              "an http(s) URL of an OpenAI-compatible server (backend openai)", e.base_url)
    _need(bool(_ENV_NAME.match(e.api_key_env)), "engine.api_key_env (--api-key-env)",
          "an environment variable NAME (not the key itself)", "<not shown>")
    _need(e.max_concurrency >= 1, "engine.max_concurrency (--max-concurrency)", ">= 1", e.max_concurrency)
    _need(e.request_timeout_s > 0, "engine.request_timeout_s", "> 0", e.request_timeout_s)
    _need(e.max_retries >= 0, "engine.max_retries", ">= 0", e.max_retries)
    _need(e.retry_backoff_s >= 0, "engine.retry_backoff_s", ">= 0", e.retry_backoff_s)
    _need(e.stop_tokens is None or (isinstance(e.stop_tokens, list) and all(isinstance(t, str) and t for t in e.stop_tokens)),
          "engine.stop_tokens", "a list of token strings", e.stop_tokens)
    from mmpr_builder.engine_args import check_extra_args

    check_extra_args(e.extra_args)


def _check_run(r: RunConfig) -> None:
    _need(r.limit is None or r.limit >= 1, "run.limit (--limit)", ">= 1", r.limit)
    _need(r.inflight_items >= 1, "run.inflight_items (--inflight-items)", ">= 1", r.inflight_items)
    _need(r.commit_interval_s > 0, "run.commit_interval_s", "> 0", r.commit_interval_s)
    _need(r.max_shard_mb > 0, "run.max_shard_mb (--max-shard-mb)", "> 0", r.max_shard_mb)
    _need(r.max_shard_rows is None or r.max_shard_rows >= 1, "run.max_shard_rows (--max-shard-rows)", ">= 1",
          r.max_shard_rows)
    _need(r.push_to_hub is None or bool(_HUB_REPO.match(r.push_to_hub)), "run.push_to_hub (--push-to-hub)",
          "a Hub dataset id org/name", r.push_to_hub)
    r.shard_spec  # noqa: B018 - raises ConfigError when malformed


def load_source(source: str, data: Path | None = None) -> Recipe:
    """A recipe by name or YAML path, or a plain data file/folder wrapped in a default recipe.

    Args:
        source: recipe name (``mmpr sources``), ``.yaml`` path, or a data file/folder.
        data: replaces the recipe's ``source.path``.
    Raises:
        ConfigError: unknown recipe (with "did you mean"), bad recipe file.
    """
    from mmpr_builder.config import SourceConfig
    from mmpr_builder.recipes import load_recipe

    path = Path(source)
    if path.exists() and path.suffix not in (".yaml", ".yml"):
        recipe = Recipe(name=path.stem, source=SourceConfig(path=str(path.resolve())), base_dir=str(Path.cwd()))
    else:
        recipe = load_recipe(source)
    if data is not None:
        recipe = dataclasses.replace(recipe, source=dataclasses.replace(recipe.source, path=str(data.resolve())))
    return recipe


def assemble(source: str, *, data: Path | None = None, config_file: Path | None = None,
             recipe_flags: dict[str, Any] | None = None, engine_flags: dict[str, Any] | None = None,
             run_flags: dict[str, Any] | None = None) -> BuildConfig:
    """Layer defaults, the recipe, ``config_file`` and flags into one :class:`BuildConfig` (not yet validated).

    Flags whose value is None are "not given" and leave the layer below.

    Raises:
        ConfigError: unknown recipe, unknown key anywhere (with "did you mean"), wrong value type.
    """
    recipe = load_source(source, data)
    engine, run = EngineConfig(), RunConfig()
    if config_file is not None:
        overrides = read_yaml(config_file)
        engine = merge(engine, overrides.pop("engine", None) or {}, where=f"{config_file}:engine")
        run = merge(run, overrides.pop("run", None) or {}, where=f"{config_file}:run")
        recipe = merge(recipe, overrides, where=str(config_file))
    recipe = merge(recipe, _given(recipe_flags or {}))
    engine = merge(engine, _given(engine_flags or {}), where="engine")
    run = merge(run, _given(run_flags or {}), where="run")
    return BuildConfig(recipe, engine, run)


def parse_engine_args(items: list[str] | None) -> dict[str, Any]:
    """``--engine-arg KEY=VALUE`` flags -> the ``engine.extra_args`` mapping.

    VALUE is read as YAML (``8192`` is an int, ``true`` a bool, ``{max_pixels: 1000}``
    a mapping, anything else a string); a dotted KEY sets one entry of a mapping
    (``mm_processor_kwargs.max_pixels=1000``). Later flags win.

    Raises:
        ConfigError: an item without ``=`` or with an empty key, or a VALUE that is not valid YAML.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--engine-arg {item!r}: expected KEY=VALUE (e.g. max_num_seqs=64)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--engine-arg {item!r}: VALUE is not valid YAML ({e})") from None
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    """Drop flags that were not given (None), recursing into nested mappings."""
    out = {}
    for k, v in flags.items():
        if isinstance(v, dict):
            v = _given(v)
            if v:
                out[k] = v
        elif v is not None:
            out[k] = v
    return out


__all__ = ["BuildConfig", "EngineConfig", "RunConfig", "assemble", "load_source", "parse_engine_args"]
