"""The records that flow through a build: question items in, sampled responses out.

Flow: source -> :class:`QuestionItem` -> prompt -> engine -> :class:`Response`
-> labelers -> pairing -> pair rows (see :mod:`mmpr_builder.schema`).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar


@dataclass(frozen=True)
class ImageData:
    """One image of an item, kept as its original encoded bytes.

    The bytes are embedded unchanged in the output shards (no re-encoding), and
    decoded to PIL only to feed the engine.

    Attributes:
        bytes: the encoded file (PNG, JPEG, ...), as read from the source.
        path: the name it had in the source (relative to the source root), or None.
    """

    bytes: bytes = field(repr=False)
    path: str | None = None

    def to_pil(self):
        """Decode to an RGB ``PIL.Image.Image``. Raises ``PIL.UnidentifiedImageError``/``OSError`` if corrupt."""
        from PIL import Image

        with Image.open(io.BytesIO(self.bytes)) as img:
            return img.convert("RGB")


@dataclass
class QuestionItem:
    """One question to sample responses for.

    Attributes:
        id: stable, unique id within its source (used for seeds, resume and pair ids).
        question: the question text as the source gives it (before the CoT instruction).
        images: zero or more images, in the order they appear in the prompt.
        ground_truth: the reference answer, or None (such items go to DropoutNTP).
        choices: option texts for multiple choice (rendered as lettered lines), or None.
        answer_type: verifier to use (``auto``, ``multiple_choice``, ``number``,
            ``math``, ``short_text``, ``yes_no``, ``anls``, ``relaxed``).
        source: name of the source/recipe the item came from.
        meta: free-form extra fields from the source (kept out of the prompt).
    """

    id: str
    question: str
    images: list[ImageData] = field(default_factory=list)
    ground_truth: str | None = None
    choices: list[str] | None = None
    answer_type: str = "auto"
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response:
    """One sampled completion.

    Attributes:
        text: the generated text (no prompt).
        finish_reason: ``stop`` (end of turn / stop string) or ``length`` (cut by max_tokens).
        num_tokens: generated tokens.
        token_ids: generated token ids, or None when the engine did not return them.
    """

    text: str
    finish_reason: str
    num_tokens: int
    token_ids: list[int] | None = None


class ItemStatus(str, Enum):
    """What became of one item (counted in the summary, the card and ``mmpr inspect``).

    Correctness statuses follow :mod:`mmpr_builder.pairing` (MMPR section 3.1):
    ``paired``, ``too_easy`` (every judged response correct), ``too_hard``
    (none correct), ``no_usable_chosen``, ``no_usable_rejected``; items without
    ground truth are ``no_ground_truth`` (DropoutNTP only).
    """

    PAIRED = "paired"
    TOO_EASY = "too_easy"
    TOO_HARD = "too_hard"
    NO_USABLE_CHOSEN = "no_usable_chosen"
    NO_USABLE_REJECTED = "no_usable_rejected"
    NO_GROUND_TRUTH = "no_ground_truth"


class ResponseIssue(str, Enum):
    """Why a response may not be chosen (:func:`mmpr_builder.labelers.hygiene.response_issue`)."""

    EMPTY = "empty"
    TRUNCATED = "truncated"
    REPETITIVE = "repetitive"


class DropReason(str, Enum):
    """Why a DropoutNTP candidate gave no pair (:mod:`mmpr_builder.labelers.dropout_ntp`)."""

    TOO_SHORT = "too_short"  # the chosen has too few tokens to cut
    EMPTY_CONTINUATION = "empty_continuation"
    IDENTICAL_TO_CHOSEN = "identical_to_chosen"
    ENGINE_ERROR = "engine_error"  # the continuation request failed
    NOT_GENERATED = "not_generated"  # a relabel needs a continuation the build never generated


VERDICTS = ("correct", "incorrect", "no_answer", "unverifiable")
"""Verdict names (values of :class:`mmpr_builder.labelers.answers.Verdict`)."""

PAIRING_COUNTS = ("dropped_duplicate", "dropped_equivalent", "pairs_format_negative")
"""Pairing counters kept per item (see :class:`mmpr_builder.pairing.PairingResult`)."""


@dataclass
class ItemOutcome:
    """Everything the summary, the card and ``mmpr inspect`` know about one committed item.

    Attributes:
        item_id, source: the item's id and source name.
        status: see :class:`ItemStatus`.
        responses: sampled responses (K, or 0 when sampling failed).
        verdicts: responses per verdict name (:data:`VERDICTS`).
        issues: responses per :class:`ResponseIssue`.
        pairing: pairing counters (:data:`PAIRING_COUNTS`).
        dropout_drops: DropoutNTP candidates dropped per :class:`DropReason`.
        pairs: pair rows per method (``correctness``, ``dropout_ntp``).
        response_tokens, chosen_tokens, rejected_tokens: lengths in tokens (one per response / pair).
        judged: verdicts given by the optional judge, not by rules (count).
        warnings: per-item labelling warnings (e.g. a ground truth that could not be normalised).
    """

    item_id: str
    source: str = ""
    status: ItemStatus = ItemStatus.NO_GROUND_TRUTH
    responses: int = 0
    verdicts: Counter = field(default_factory=Counter)
    issues: Counter = field(default_factory=Counter)
    pairing: Counter = field(default_factory=Counter)
    dropout_drops: Counter = field(default_factory=Counter)
    pairs: Counter = field(default_factory=Counter)
    response_tokens: list[int] = field(default_factory=list)
    chosen_tokens: list[int] = field(default_factory=list)
    rejected_tokens: list[int] = field(default_factory=list)
    judged: int = 0
    warnings: list[str] = field(default_factory=list)

    _COUNTERS: ClassVar[tuple[str, ...]] = ("verdicts", "issues", "pairing", "dropout_drops", "pairs")

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (enums as their values, counters as plain dicts without zeros)."""
        out: dict[str, Any] = {"item_id": self.item_id, "source": self.source, "status": self.status.value,
                               "responses": self.responses}
        for name in self._COUNTERS:
            out[name] = {getattr(k, "value", k): v for k, v in sorted(getattr(self, name).items(),
                                                                       key=lambda kv: str(kv[0])) if v}
        out.update(response_tokens=self.response_tokens, chosen_tokens=self.chosen_tokens,
                   rejected_tokens=self.rejected_tokens, judged=self.judged, warnings=self.warnings)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ItemOutcome":
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: unknown status, issue or drop reason.
        """
        return cls(
            item_id=data["item_id"], source=data.get("source", ""), status=ItemStatus(data["status"]),
            responses=data.get("responses", 0), verdicts=Counter(data.get("verdicts", {})),
            issues=Counter({ResponseIssue(k): v for k, v in data.get("issues", {}).items()}),
            pairing=Counter(data.get("pairing", {})),
            dropout_drops=Counter({DropReason(k): v for k, v in data.get("dropout_drops", {}).items()}),
            pairs=Counter(data.get("pairs", {})), response_tokens=list(data.get("response_tokens", [])),
            chosen_tokens=list(data.get("chosen_tokens", [])), rejected_tokens=list(data.get("rejected_tokens", [])),
            judged=data.get("judged", 0), warnings=list(data.get("warnings", [])),
        )
