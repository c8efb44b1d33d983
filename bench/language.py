"""Benchmark: the language rule (rights/language.py) on our own ad scripts.

Run: ``.venv/bin/python bench/language.py`` (from anywhere; ``--compare`` also measures
lingua-language-detector when it is installed, the library it was compared with).
Needs no Django. Prints:

- **false denials**: benign scripts (tests/rights/screening_corpus.json benign and
  violating ads, tests/rights/language_corpus.json benign: short, brand-name-heavy and
  mixed ones), each with every truncation a brand might send (sentences, first sentences,
  first 3..15 words), on a contract allowing only the script's own language. Goal: 0.
- **foreign scripts caught**: language_corpus.json foreign scripts declared in another
  language on a contract allowing only that one, whole and truncated; per batch (dev,
  held-out, held-out-2).
- ``detect`` µs per call on a ~300-character ad, the model load time and the process RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rights import language  # noqa: E402
from tests.rights.test_language import BENIGN, FOREIGN, truncations  # noqa: E402

CORPUS = json.loads((ROOT / "tests" / "rights" / "language_corpus.json").read_text(encoding="utf-8"))
BATCH = {r["id"]: r.get("batch", "dev") for r in CORPUS["benign"] + CORPUS["foreign"]}


def measure(is_not) -> dict:
    """Apply a rule ``is_not(text, allowed) -> bool`` to every benign and foreign case."""
    checked, denied = 0, []
    for sid, lang, script in BENIGN:
        for text in truncations(script):
            checked += 1
            if is_not(text, {lang}):
                denied.append((sid, text))
    caught: dict[str, list[int]] = {}
    caught_cut = [0, 0]
    for sid, _, declared, script in FOREIGN:
        counts = caught.setdefault(BATCH.get(sid, "dev"), [0, 0])
        counts[0] += bool(is_not(script, {declared}))
        counts[1] += 1
        for text in truncations(script):
            caught_cut[0] += bool(is_not(text, {declared}))
            caught_cut[1] += 1
    return {"checked": checked, "denied": denied, "caught": caught, "caught_cut": caught_cut}


def report(name: str, result: dict) -> None:
    whole = [sum(c[0] for c in result["caught"].values()), sum(c[1] for c in result["caught"].values())]
    print(f"{name}: false denials {len(result['denied'])} of {result['checked']} benign scripts and "
          f"truncations; foreign scripts caught {whole[0]} of {whole[1]} "
          f"({', '.join(f'{b} {c[0]}/{c[1]}' for b, c in sorted(result['caught'].items()))}); "
          f"truncated foreign scripts caught {result['caught_cut'][0]} of {result['caught_cut'][1]}")
    for sid, text in result["denied"][:10]:
        print(f"    denied {sid}: {text[:70]!r}")


def lingua_rule(low_accuracy: bool):
    """The comparison: lingua's probability, same evidence words and writing-system rule."""
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def is_not(text: str, allowed: set[str]) -> bool:
        guess = language.detect(text)  # for the writing systems and the evidence count
        if all(code in guess.excluded for code in allowed) and guess.evidence_words < language.MIN_EVIDENCE_WORDS:
            return True  # decided by the writing system alone
        if guess.evidence_words < language.MIN_EVIDENCE_WORDS:
            return False
        values = detector.compute_language_confidence_values(text)
        best = values[0]
        code = best.language.iso_code_639_1.name.lower()
        return code not in allowed and best.value >= language.CONFIDENT

    return is_not


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", action="store_true", help="also measure lingua (if installed)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
    started = time.perf_counter()
    language.detect("warm up")
    print(f"py3langid model load: {time.perf_counter() - started:.2f} s; "
          f"RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    result = measure(lambda text, allowed: language.is_confidently_not(language.detect(text), allowed))
    report("rights.language (py3langid)", result)
    sample = max((script for _, lang, script in BENIGN if lang == "en"), key=len)
    calls = 500
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            language.detect(sample)
        best = min(best, (time.perf_counter() - started) / calls)
    print(f"detect: {best * 1e6:.0f} µs per {len(sample)}-character script (best of 5)")
    if args.compare:
        try:
            import lingua  # noqa: F401
        except ImportError:
            print("lingua-language-detector is not installed: no comparison")
            return
        for low in (True, False):
            started = time.perf_counter()
            rule = lingua_rule(low)
            rule("warm up text", {"en"})
            result = measure(rule)
            report(f"lingua ({'low' if low else 'high'} accuracy), same evidence rule", result)
            print(f"    {time.perf_counter() - started:.1f} s in all; RSS now "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    if result["denied"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
