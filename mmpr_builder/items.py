"""The records that flow through a build: question items in, sampled responses out.

Flow: source -> :class:`QuestionItem` -> prompt -> engine -> :class:`Response`
-> labelers -> pairing -> pair rows (see :mod:`mmpr_builder.schema`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any


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
