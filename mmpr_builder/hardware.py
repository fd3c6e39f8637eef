"""What the machine can do fast: the one place that reads CPU flags and picks a default dtype.

vLLM-CPU runs bfloat16 natively only where the CPU has bf16 instructions
(x86 ``avx512_bf16`` or ``amx_bf16``; Arm ``bf16``); elsewhere (AVX2-only x86,
older AVX-512) bfloat16 is emulated and about 3x slower than float32
(measured: 12.0 vs 38.6 generated tokens/s, shared/notes/cpu-inference.md).
"""

from __future__ import annotations

import logging
import platform
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

DTYPES = ("auto", "bfloat16", "float16", "float32")
"""Values ``--dtype`` accepts (vLLM's names)."""

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""CPU flags (``/proc/cpuinfo``) that mean bfloat16 runs natively."""


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (x86 ``flags``, Arm ``Features``); empty if unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (any of :data:`BF16_FLAGS`; Apple silicon counts)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & BF16_FLAGS) or (platform.system() == "Darwin" and platform.machine() == "arm64")


def resolve_dtype(requested: str, *, cpu_build: bool, flags: frozenset[str] | None = None) -> str:
    """The dtype to run: ``requested`` unless it is ``auto`` on a CPU build of vLLM.

    On vLLM-CPU, ``auto`` becomes ``bfloat16`` where the CPU has native bf16
    and ``float32`` elsewhere (float16 is not fast on CPUs either). On a GPU
    build ``auto`` is left to vLLM (the checkpoint's dtype, float32 weights
    served as bfloat16/float16).

    Raises:
        ValueError: ``requested`` is not one of :data:`DTYPES`.
    """
    if requested not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {requested!r}")
    if requested != "auto" or not cpu_build:
        return requested
    return "bfloat16" if cpu_has_native_bf16(flags) else "float32"
