"""Burned-in captions and the AI-generated badge: fonts, cue timing, pre-rendered layers.

Each caption cue and the badge are drawn once (Pillow, with raqm shaping for complex and
right-to-left scripts) into an RGBA layer; frames only alpha-blend the layer of the moment.
Fonts come from the system (fontconfig folders), ``DOPPEL_RENDER_FONT_DIRS`` and the DejaVu
fonts matplotlib ships; a caption is only drawn with a font that has every glyph it needs,
so missing fonts never produce boxes ("tofu"): the captions are left out with a warning.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import regex

from .layout import Box, OutputProfile
from .runtime import ENV_FONT_DIRS
from .speech.model import Speech
from .speech.prepare import is_emoji
from .speech.text import Token, split_sentences, tokenize

_CLUSTER = regex.compile(r"\X")
# Parts of an emoji sequence that are never drawn as glyphs of their own.
_INVISIBLE_IN_EMOJI = frozenset(range(0xFE00, 0xFE10)) | frozenset(range(0xE0020, 0xE0080)) | {0x200D, 0x20E3}

_FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
_PREFERRED_FONTS = (  # bold sans first; CJK families after
    "DejaVuSans-Bold.ttf",
    "NotoSans-Bold.ttf",
    "LiberationSans-Bold.ttf",
    "DejaVuSans.ttf",
    "NotoSansCJK-Bold.ttc",
    "NotoSansCJK-Regular.ttc",
    "wqy-zenhei.ttc",
    "wqy-microhei.ttc",
)
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"  # the Debian package that gives CJK captions
# Fonts whose cmap claims every code point but draw a placeholder box for each (Apple's
# Last Resort, shipped by matplotlib): with them "every glyph is covered" means tofu.
_PLACEHOLDER_FONTS = ("lastresort",)

_coverage_lock = threading.Lock()
_coverage: dict[str, frozenset[int]] = {}


def _font_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get(ENV_FONT_DIRS, "").split(os.pathsep) if d]
    dirs += [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
    spec = importlib.util.find_spec("matplotlib")  # ships DejaVu; not imported
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return dirs


def font_candidates() -> list[Path]:
    """Installed font files, preferred families first."""
    found: list[Path] = []
    for folder in _font_dirs():
        if folder.is_dir():
            found.extend(
                path
                for path in sorted(folder.rglob("*"))
                if path.suffix.lower() in _FONT_SUFFIXES and path.is_file()
            )
    rank = {name.lower(): i for i, name in enumerate(_PREFERRED_FONTS)}
    unique: dict[str, Path] = {}
    for path in found:
        if any(marker in path.name.lower() for marker in _PLACEHOLDER_FONTS):
            continue
        unique.setdefault(path.name.lower(), path)
    return sorted(unique.values(), key=lambda p: (rank.get(p.name.lower(), len(rank)), p.name))


def _codepoints(path: Path) -> frozenset[int]:
    key = str(path)
    with _coverage_lock:
        if key in _coverage:
            return _coverage[key]
    from fontTools.ttLib import TTCollection, TTFont

    try:
        if path.suffix.lower() == ".ttc":
            font = TTCollection(str(path), lazy=True).fonts[0]
        else:
            font = TTFont(str(path), lazy=True)
        cmap = font.getBestCmap() or {}
        points = frozenset(cmap)
    except Exception:  # noqa: BLE001 - an unreadable font is just not a candidate
        points = frozenset()
    with _coverage_lock:
        _coverage[key] = points
    return points


def _needed(text: str) -> set[int]:
    return {
        ord(c)
        for c in text
        if not c.isspace() and unicodedata.category(c)[0] not in ("C", "Z", "M")
    }


def find_font(text: str) -> Path | None:
    """The first preferred font that can draw every character of ``text``."""
    needed = _needed(text)
    for path in font_candidates():
        if needed <= _codepoints(path):
            return path
    return None


@dataclass(frozen=True)
class Layer:
    """A pre-rendered RGBA overlay at a fixed place in the frame."""

    box: Box
    rgb: np.ndarray  # (h, w, 3) float32
    alpha: np.ndarray  # (h, w, 1) float32 in 0..1

    def blend_into(self, frame: np.ndarray) -> None:
        """Alpha-blend into one (H, W, 3) uint8 frame or a batch (N, H, W, 3), in place."""
        x0, y0, x1, y1 = self.box
        region = frame[..., y0:y1, x0:x1, :].astype(np.float32)
        frame[..., y0:y1, x0:x1, :] = np.round(region + (self.rgb - region) * self.alpha).astype(
            np.uint8
        )

    def blend_over(self, frame: np.ndarray, *, clip: Box) -> None:
        """Blend only the part of the layer inside ``clip`` (frame coordinates)."""
        x0, y0, x1, y1 = self.box
        cx0, cy0 = max(x0, clip[0]), max(y0, clip[1])
        cx1, cy1 = min(x1, clip[2]), min(y1, clip[3])
        if cx1 <= cx0 or cy1 <= cy0:
            return
        rgb = self.rgb[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        alpha = self.alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        region = frame[..., cy0:cy1, cx0:cx1, :].astype(np.float32)
        frame[..., cy0:cy1, cx0:cx1, :] = np.round(region + (rgb - region) * alpha).astype(np.uint8)


def _layer_from_image(image, *, x: int, y: int, frame_w: int, frame_h: int) -> Layer | None:
    array = np.asarray(image, dtype=np.float32)
    h, w = array.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(frame_w, x + w), min(frame_h, y + h)
    if x1 <= x0 or y1 <= y0:
        return None
    crop = array[y0 - y : y1 - y, x0 - x : x1 - x]
    alpha = crop[..., 3:4] / 255.0
    return Layer(box=(x0, y0, x1, y1), rgb=np.ascontiguousarray(crop[..., :3]), alpha=alpha)


def badge_layer(*, text: str, profile: OutputProfile) -> tuple[Layer | None, str | None]:
    """The AI-generated badge, top-left. Returns (layer, warning)."""
    from PIL import Image, ImageDraw, ImageFont

    text = " ".join(text.split())[:60]
    if not text:
        return None, None
    path = find_font(text)
    if path is None:
        return None, (
            f"No installed font can draw the badge text {text!r}; the badge was left out "
            f"(install {CJK_FONT_PACKAGE} for Chinese/Japanese text)."
        )
    size = profile.badge_font_px
    font = ImageFont.truetype(str(path), size)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = int(size * 0.6), int(size * 0.35)
    w, h = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (0, 0, w - 1, h - 1),
        radius=h // 2,
        fill=(10, 10, 10, 170),
        outline=(255, 255, 255, 200),
        width=max(1, size // 14),
    )
    draw.text((pad_x - left, pad_y - top), text, font=font, fill=(255, 255, 255, 255))
    margin = int(0.035 * min(profile.width, profile.height))
    y = margin + (int(0.05 * profile.height) if profile.height > profile.width else 0)
    return _layer_from_image(
        image, x=margin, y=y, frame_w=profile.width, frame_h=profile.height
    ), None


@dataclass(frozen=True)
class Cue:
    text: str  # lines joined with "\n"
    start_s: float
    end_s: float


def without_undrawable_emoji(text: str, points: frozenset[int]) -> str:
    """``text`` without the emoji a font with these code points cannot draw (never tofu)."""
    if text.isascii():
        return text
    kept = []
    for match in _CLUSTER.finditer(text):
        cluster = match.group()
        if is_emoji(cluster) and not {ord(c) for c in cluster} - _INVISIBLE_IN_EMOJI <= points:
            continue
        kept.append(cluster)
    return "".join(kept)


def caption_font(text: str) -> tuple[Path | None, str]:
    """The font for captions of ``text`` and the text it will show: every character, or,
    when no installed font draws the emoji, the text without them."""
    path = find_font(text)
    if path is not None:
        return path, text
    bare = "".join(c for c in _CLUSTER.findall(text) if not is_emoji(c))
    path = find_font(bare)
    return path, bare if path is None else without_undrawable_emoji(text, _codepoints(path))


def _token_times(tokens: list[Token], speech: Speech) -> list[tuple[float, float]]:
    return _share_word_time(tokens, _word_times(tokens, speech))


def _share_word_time(
    tokens: list[Token], times: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Pieces of one broken word share its time in proportion to their length."""
    out = list(times)
    i = 0
    while i < len(tokens):
        j = i + 1
        while j < len(tokens) and (tokens[j].start, tokens[j].end) == (tokens[i].start, tokens[i].end):
            j += 1
        if j - i > 1:
            t0, t1 = times[i]
            lengths = np.cumsum([0] + [len(tokens[k].text) for k in range(i, j)], dtype=np.float64)
            edges = t0 + (t1 - t0) * lengths / lengths[-1]
            for k in range(i, j):
                out[k] = (float(edges[k - i]), float(edges[k - i + 1]))
        i = j
    return out


def _word_times(tokens: list[Token], speech: Speech) -> list[tuple[float, float]]:
    times: list[tuple[float, float] | None] = []
    for token in tokens:
        span = speech.spoken_span(token.start, token.end)
        hits = [w for w in speech.words if span and w.start < span[1] and w.end > span[0]]
        times.append((min(w.start_s for w in hits), max(w.end_s for w in hits)) if hits else None)
    # Fill tokens the engine did not time (punctuation, odd splits) from their neighbours.
    known = [i for i, t in enumerate(times) if t is not None]
    if not known:
        total = speech.duration_s
        n = max(1, len(tokens))
        return [(total * i / n, total * (i + 1) / n) for i in range(len(tokens))]
    filled: list[tuple[float, float]] = []
    for i, t in enumerate(times):
        if t is not None:
            filled.append(t)
            continue
        before = [times[k] for k in known if k < i]
        after = [times[k] for k in known if k > i]
        if before:
            filled.append((before[-1][1], before[-1][1]))
        else:
            filled.append((after[0][0], after[0][0]))
    return filled


def _split_overlong(tokens: list[Token], font, limit: float) -> list[Token]:
    """Break words wider than a caption line into pieces that fit, each but the last ending
    in a hyphen (a 300-letter word must not run off the frame). Pieces keep the word's
    span, so they are timed with it."""
    out: list[Token] = []
    hyphen = font.getlength("-")
    for token in tokens:
        if font.getlength(token.text) <= limit:
            out.append(token)
            continue
        chunk = ""
        for char in token.text:
            if chunk and font.getlength(chunk + char) + hyphen > limit:
                joiner = "-" if chunk[-1].isalnum() and char.isalnum() and not token.wide else ""
                out.append(Token(chunk + joiner, token.start, token.end, token.wide))
                chunk = ""
            chunk += char
        if chunk:
            out.append(Token(chunk, token.start, token.end, token.wide))
    return out


def _join(tokens: list[Token], text: str) -> str:
    out = ""
    for i, token in enumerate(tokens):
        if (
            i
            and tokens[i - 1].end < token.start
            and any(c.isspace() for c in text[tokens[i - 1].end : token.start])
        ):
            out += " "
        out += token.text
    return out


def build_cues(
    *, speech: Speech, profile: OutputProfile, font_path: Path, max_lines: int = 2
) -> list[Cue]:
    """Split the script into caption cues of at most ``max_lines`` lines that fit the frame,
    never spanning two sentences, each shown while its words are spoken."""
    from PIL import ImageFont

    font = ImageFont.truetype(str(font_path), profile.caption_font_px)
    limit = profile.caption_max_width * profile.width
    text = speech.shown
    points = _codepoints(font_path)
    tokens: list[Token] = []
    for token in tokenize(text):
        shown = without_undrawable_emoji(token.text, points)
        if not shown.strip():
            continue
        if shown != token.text and tokens and all(unicodedata.category(c)[0] == "P" for c in shown):
            # "pride 🏳️‍🌈!" without the emoji: the "!" goes back to its word
            previous = tokens.pop()
            tokens.append(Token(previous.text + shown, previous.start, token.end, previous.wide))
            continue
        tokens.append(Token(shown, token.start, token.end, token.wide))
    tokens = _split_overlong(tokens, font, limit)
    times = _token_times(tokens, speech)
    # Sentences are those of the spoken text ("Mr. Lee" is one sentence: "Mister Lee"),
    # found through each token's spoken span; an unspoken token (an emoji) goes with the
    # token before it.
    spans = split_sentences(speech.text)
    sentence_of: list[int] = []
    for token in tokens:
        spoken = speech.spoken_span(token.start, token.end)
        if spoken is None:
            sentence_of.append(sentence_of[-1] if sentence_of else 0)
            continue
        index = next((i for i, (a, b) in enumerate(spans) if a <= spoken[0] < b), len(spans))
        sentence_of.append(index)

    groups: list[list[int]] = []  # token indices per cue
    lines: list[list[int]] = []
    for i in range(len(tokens)):
        if lines and sentence_of[i] != sentence_of[lines[-1][-1]]:
            groups.append([k for line in lines for k in line])
            lines = []
        if lines and font.getlength(_join([tokens[k] for k in lines[-1] + [i]], text)) <= limit:
            lines[-1].append(i)
            continue
        if len(lines) == max_lines:
            groups.append([k for line in lines for k in line])
            lines = []
        lines.append([i])
    if lines:
        groups.append([k for line in lines for k in line])

    def wrap(group: list[int]) -> list[list[int]]:
        rows: list[list[int]] = [[]]
        for k in group:
            candidate = rows[-1] + [k]
            if rows[-1] and font.getlength(_join([tokens[j] for j in candidate], text)) > limit:
                rows.append([k])
            else:
                rows[-1] = candidate
        return rows

    groups = _balance(
        groups,
        sentence_of=sentence_of,
        tokens=tokens,
        text=text,
        font=font,
        fits=lambda group: len(wrap(group)) <= max_lines,
    )
    cues: list[Cue] = []
    for group in groups:
        rows = wrap(group)
        caption = "\n".join(_join([tokens[j] for j in row], text) for row in rows)
        start = times[group[0]][0]
        end = max(times[k][1] for k in group)
        cues.append(Cue(text=caption, start_s=max(0.0, start - 0.05), end_s=end))
    # Hold each cue until the next one starts, unless there is a long pause.
    held: list[Cue] = []
    for i, cue in enumerate(cues):
        following = cues[i + 1].start_s if i + 1 < len(cues) else speech.duration_s
        end = following if following - cue.end_s < 0.8 else cue.end_s + 0.35
        held.append(Cue(cue.text, cue.start_s, max(cue.start_s + 0.1, min(end, speech.duration_s))))
    return held


def _balance(groups, *, sentence_of, tokens, text, font, fits):
    """Re-cut each sentence's greedy cues into cues of similar width, so a sentence does
    not end on a one-word cue; keeps the greedy cut when a balanced cue would not fit."""
    balanced: list[list[int]] = []
    i = 0
    while i < len(groups):
        j = i
        while j + 1 < len(groups) and sentence_of[groups[j + 1][0]] == sentence_of[groups[i][0]]:
            j += 1
        sentence = groups[i : j + 1]
        count = len(sentence)
        if count > 1:
            indices = [k for group in sentence for k in group]
            widths = np.cumsum([font.getlength(tokens[k].text + " ") for k in indices])
            total = widths[-1]
            cuts = sorted(
                {int(np.argmin(np.abs(widths - total * c / count))) + 1 for c in range(1, count)}
            )
            bounds = [0, *cuts, len(indices)]
            candidate = [indices[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
            if len(candidate) == count and all(fits(group) for group in candidate):
                sentence = candidate
        balanced.extend(sentence)
        i = j + 1
    return balanced


def cue_layer(*, cue: Cue, profile: OutputProfile, font_path: Path) -> Layer | None:
    from PIL import Image, ImageDraw, ImageFont

    size = profile.caption_font_px
    font = ImageFont.truetype(str(font_path), size)
    stroke = max(2, size // 12)
    lines = cue.text.split("\n")
    line_h = int(size * 1.28)
    widths = [int(font.getlength(line)) for line in lines]
    pad = int(size * 0.45)
    w = max(widths) + 2 * pad + 2 * stroke
    h = line_h * len(lines) + 2 * pad
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=int(size * 0.35), fill=(0, 0, 0, 92))
    for i, line in enumerate(lines):
        draw.text(
            (w / 2, pad + line_h * i + line_h / 2),
            line,
            font=font,
            fill=(255, 255, 255, 255),
            stroke_width=stroke,
            stroke_fill=(0, 0, 0, 255),
            anchor="mm",
        )
    x = (profile.width - w) // 2
    y = int(profile.caption_centre_y * profile.height - h / 2)
    y = min(y, profile.height - h - int(0.02 * profile.height))
    return _layer_from_image(image, x=x, y=y, frame_w=profile.width, frame_h=profile.height)


def caption_layers(
    *, speech: Speech, profile: OutputProfile
) -> tuple[list[tuple[Cue, Layer]], str | None]:
    """Cues with their layers, or ([], warning) when no installed font covers the script."""
    font_path, _ = caption_font(speech.shown)
    if font_path is None:
        return [], (
            "No installed font can draw every character of this script, so the captions were "
            f"left out rather than drawn as boxes (install {CJK_FONT_PACKAGE} for Chinese)."
        )
    cues = build_cues(speech=speech, profile=profile, font_path=font_path)
    layers = []
    for cue in cues:
        layer = cue_layer(cue=cue, profile=profile, font_path=font_path)
        if layer is not None:
            layers.append((cue, layer))
    return layers, None
