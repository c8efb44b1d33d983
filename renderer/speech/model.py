"""Data the speech stage hands to the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .prepare import PreparedScript


@dataclass(frozen=True)
class Phone:
    """One phoneme (IPA) and when it sounds, in seconds from the start of the clip."""

    symbol: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class WordTiming:
    """When the words in script characters [start, end) are spoken."""

    start: int
    end: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Voice:
    """A voice this installation can speak with."""

    language: str  # ISO 639-1
    engine: str  # "piper" or "espeak"
    name: str  # public name, e.g. "joe", "es-419", "cmn-latn-pinyin"
    engine_voice: str  # what the engine loads: a model id or an espeak-ng voice identifier
    description: str


@dataclass
class Speech:
    """Mono float32 audio in [-1, 1] with phoneme and word timings on the same clock."""

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]
    words: list[WordTiming]
    voice: Voice
    text: str  # the spoken text the offsets in ``words`` refer to
    warnings: list[str] = field(default_factory=list)
    # How the spoken text relates to what the captions show (None: they are the same text).
    prepared: PreparedScript | None = None

    @property
    def shown(self) -> str:
        """What the captions show: the script as the brand wrote it."""
        return self.prepared.shown if self.prepared is not None else self.text

    def spoken_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The span of ``text`` that speaks ``shown[start:end]`` (None: not spoken)."""
        if self.prepared is None:
            return (start, end)
        return self.prepared.spoken_span(start, end)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate
