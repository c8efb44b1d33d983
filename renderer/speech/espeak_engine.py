"""Speech in ~100 languages through Debian's espeak-ng C library (ctypes).

espeak-ng reports phoneme events (IPA, with the sample they start at) and word events
(character position in the text) while it synthesises, which is all the animator and the
captions need. The library is a process-wide singleton and not thread-safe: one lock
serialises every call, and it is initialised lazily once per process (after any fork).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np

from ..errors import LanguageUnavailable
from .model import Phone, WordTiming

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_SSML = 0x10  # espeakSSML: the text carries <voice> elements
_RATE = 1  # espeakRATE parameter
_WORDS_PER_MINUTE = 165

# The Mandarin voice that reads Latin as English also reads the pinyin it derives from
# Han characters as English ("ni three hao three") in Debian's espeak-ng 1.51 data; the
# "latin as pinyin" voice reads Chinese correctly. MBROLA voices need data we do not ship.
_BROKEN_VOICES = {"sit/cmn"}
_NOT_ISO_639_1 = {"py"}  # espeak-ng's "py" is Pyash, a constructed language
_PREFERRED = {"zh": "sit/cmn-Latn-pinyin", "en": "gmw/en-US", "fr": "roa/fr", "pt": "roa/pt"}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _VoiceInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_LOCK = threading.Lock()


class EspeakEngine:
    """The espeak-ng library, initialised for this process."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise LanguageUnavailable(
                "espeak-ng is not installed (Debian package libespeak-ng1), so only "
                "English can be spoken here."
            ) from exc
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceInfo))
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        with _LOCK:
            rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                None,
                _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT,
            )
        if rate <= 0:
            raise LanguageUnavailable(
                "espeak-ng could not start (is the espeak-ng-data package installed?)."
            )
        self.lib = lib
        self.sample_rate = int(rate)
        self._audio: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, str]] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._list_voices()

    def _list_voices(self) -> list[tuple[str, str, list[tuple[int, str]]]]:
        """(name, identifier, [(priority, language tag)]) for each usable voice."""
        found = []
        with _LOCK:
            table = self.lib.espeak_ListVoices(None)
            index = 0
            while table[index]:
                info = table[index].contents
                identifier = info.identifier.decode()
                languages = []
                pointer = info.languages
                while True:
                    priority = ctypes.c_ubyte.from_address(pointer).value
                    if priority == 0:
                        break
                    tag = ctypes.string_at(pointer + 1)
                    languages.append((priority, tag.decode().lower()))
                    pointer += len(tag) + 2
                if identifier not in _BROKEN_VOICES and not identifier.startswith("mb/"):
                    found.append((info.name.decode(), identifier, languages))
                index += 1
        return found

    def voices_by_language(self) -> dict[str, list[tuple[str, str]]]:
        """ISO 639-1 code -> [(identifier, voice name)], the preferred voice first."""
        ranked: dict[str, list[tuple[int, int, str, str]]] = {}
        for name, identifier, languages in self.voices:
            best: dict[str, int] = {}
            for priority, tag in languages:
                primary = tag.split("-")[0]
                if primary in ("cmn", "yue"):
                    primary = "zh"
                if len(primary) == 2 and primary.isalpha() and primary not in _NOT_ISO_639_1:
                    best[primary] = min(priority, best.get(primary, 99))
            for code, priority in best.items():
                preferred = 0 if _PREFERRED.get(code) == identifier else 1
                ranked.setdefault(code, []).append((preferred, priority, identifier, name))
        result: dict[str, list[tuple[str, str]]] = {}
        for code, entries in ranked.items():
            entries.sort()
            result[code] = [(identifier, name) for _, _, identifier, name in entries]
        return result

    def _on_synth(self, wav: ctypes.Array, count: int, events: ctypes.Array) -> int:
        if count > 0:
            self._audio.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_PHONEME:
                symbol = event.id.string.decode("utf-8", "replace")
            else:
                symbol = ""
            self._events.append(
                (event.type, event.sample, event.text_position, event.length, symbol)
            )
            index += 1
        return 0

    def synthesize(
        self,
        *,
        text: str,
        identifier: str,
        lead_in_s: float,
        switches: list[tuple[int, int, str]] = (),
    ) -> tuple[np.ndarray, list[Phone], list[WordTiming]]:
        """Speak ``text`` with a voice; ``switches``: (start, end, voice identifier) runs of
        ``text`` spoken by another voice (SSML ``<voice>``). Word timings are character
        offsets into ``text``."""
        source, positions = _ssml(text, switches) if switches else (text, None)
        flags = _CHARS_UTF8 | (_SSML if switches else 0)
        data = source.encode("utf-8")
        with _LOCK:
            if self.lib.espeak_SetVoiceByName(identifier.encode()) != 0:
                raise LanguageUnavailable(f"espeak-ng has no voice {identifier!r} here.")
            self.lib.espeak_SetParameter(_RATE, _WORDS_PER_MINUTE, 0)
            self._audio, self._events = [], []
            status = self.lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, flags, None, None
            )
            audio, events = self._audio, self._events
            self._audio, self._events = [], []
        if status != 0:
            raise LanguageUnavailable(f"espeak-ng failed to speak with voice {identifier!r}.")
        samples = (
            np.concatenate(audio).astype(np.float32) / 32768.0
            if audio
            else np.zeros(0, dtype=np.float32)
        )
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        if peak > 1e-6:
            samples *= 0.9 / peak
        rate = self.sample_rate
        lead = int(round(lead_in_s * rate))
        total = len(samples)

        def at(sample: int) -> float:
            return (lead + min(max(sample, 0), total)) / rate

        phones: list[Phone] = []
        words: list[WordTiming] = []
        marks = [e for e in events if e[0] in (_EVENT_PHONEME, _EVENT_END, _EVENT_MSG_TERMINATED)]
        for i, (kind, sample, _, _, symbol) in enumerate(marks):
            if kind != _EVENT_PHONEME or symbol.startswith("("):
                continue  # language-switch markers such as "(en)" are not sounds
            end = marks[i + 1][1] if i + 1 < len(marks) else total
            if end > sample:
                phones.append(Phone(symbol or "_", at(sample), at(end)))
        word_events = []
        for event in events:
            # espeak-ng occasionally repeats an earlier word position at a clause boundary
            # (seen after switching voices); words only ever move forward through the text.
            if event[0] == _EVENT_WORD and (not word_events or event[2] > word_events[-1][2]):
                word_events.append(event)
        boundaries = [e[1] for e in events if e[0] in (_EVENT_END, _EVENT_MSG_TERMINATED)]
        for i, (_, sample, position, length, _) in enumerate(word_events):
            following = [b for b in boundaries if b > sample]
            end = word_events[i + 1][1] if i + 1 < len(word_events) else total
            if following:
                end = min(end, following[0])
            start_char = max(0, position - 1)  # espeak counts characters from 1
            end_char = start_char + max(1, length)
            if positions is not None:  # SSML source offsets -> offsets in ``text``
                start_char = positions[min(start_char, len(positions) - 1)]
                end_char = max(start_char + 1, positions[min(end_char, len(positions) - 1)])
            words.append(WordTiming(start_char, min(len(text), end_char), at(sample), at(end)))
        padded = np.concatenate([np.zeros(lead, dtype=np.float32), samples])
        return padded, phones, words


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _ssml(text: str, switches: list[tuple[int, int, str]]) -> tuple[str, list[int]]:
    """SSML for ``text`` with ``<voice>`` around the switched runs, and for every SSML
    character (plus one past the end) the offset in ``text`` it stands for."""
    out: list[str] = []
    positions: list[int] = []

    def put(chunk: str, at: int) -> None:
        out.append(chunk)
        positions.extend([at] * len(chunk))

    def plain(a: int, b: int) -> None:
        for index in range(a, b):
            put(_ESCAPES.get(text[index], text[index]), index)

    cursor = 0
    for start, end, identifier in sorted(switches):
        plain(cursor, start)
        put(f'<voice name="{identifier}">', start)
        plain(start, end)
        put("</voice>", end)
        cursor = end
    plain(cursor, len(text))
    positions.append(len(text))
    return "".join(out), positions
