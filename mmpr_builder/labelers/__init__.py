"""Labelers: correctness labels for responses (answers) and DropoutNTP rejected responses.

Public names are loaded on first use, so importing this package is cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Verdict": "answers",
    "AnswerCheck": "answers",
    "check_answer": "answers",
    "answers_equivalent": "answers",
    "infer_answer_type": "answers",
    "ANSWER_TYPES": "answers",
    "Extraction": "extract",
    "extract_answer": "extract",
    "EXTRACTION_MODES": "extract",
    "read_answer": "reading",
    "JudgeConfig": "judge",
    "apply_judge": "judge",
    "make_judge": "judge",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("%s.%s" % (__name__, mod)), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
