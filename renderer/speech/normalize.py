"""Text normalisation before speech: numbers, money, dates, times, percentages, ordinals,
abbreviations and Roman numerals written out as the words a person would say.

``normalize_spans(text, language, territory=None)`` finds what must be written out and
returns ``(start, end, words)`` replacements; ``prepare_script`` (renderer/speech/prepare.py)
applies them to the spoken text only: captions keep what the brand wrote.

Numbers, ordinals and currency names come from ``num2words`` (``LANGUAGES``: every language
it has a converter for); month names, decimal and group separators from Babel (CLDR).
Abbreviations, the "percent" word, time and unit words are small per-language tables
below; a language without an entry keeps that part as written (espeak-ng reads most of
it itself). English is complete; the tests cover English, German, Spanish and French.

Ambiguous numeric dates (one policy, documented in docs/renderer.md): ``yyyy-mm-dd`` and
``yyyy/mm/dd`` are year-month-day. ``a/b/yyyy`` (also with ``.`` or ``-``) is day-month-year,
except in territories that write the month first (``MONTH_FIRST_TERRITORIES``: the United
States and its territories, the Philippines, Micronesia, the Marshall Islands, Palau),
where it is month-day-year; with no territory, English (the American piper voice) is read
month first and every other language day first. A reading whose month would be above 12
is swapped when the other reading is a real date; a date that is no real date either way
is read as three numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import cache

import regex

__all__ = ["LANGUAGES", "MONTH_FIRST_TERRITORIES", "normalize_spans", "normalize_text"]

MONTH_FIRST_TERRITORIES = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "UM", "PH", "FM", "MH", "PW"})


@cache
def _converters() -> dict:
    from num2words import CONVERTER_CLASSES

    return CONVERTER_CLASSES


def _languages() -> frozenset[str]:
    return frozenset(code for code in _converters() if len(code) == 2)


LANGUAGES: frozenset[str] = _languages()

# --------------------------------------------------------------------------- word tables

_ABBREVIATIONS: dict[str, dict[str, str]] = {
    "en": {
        "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Dr.": "Doctor", "Jr.": "Junior",
        "Sr.": "Senior", "St.": "Saint", "Prof.": "Professor", "Mt.": "Mount", "vs.": "versus",
        "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is", "approx.": "approximately",
        "Inc.": "Incorporated", "Ltd.": "Limited", "Corp.": "Corporation", "Co.": "Company",
        "Ave.": "Avenue", "Blvd.": "Boulevard", "Dept.": "Department", "Jan.": "January",
        "Feb.": "February", "Aug.": "August", "Sept.": "September", "Oct.": "October",
        "Nov.": "November", "Dec.": "December", "min.": "minutes", "hrs.": "hours",
    },
    "es": {
        "Sr.": "señor", "Sra.": "señora", "Srta.": "señorita", "Dr.": "doctor", "Dra.": "doctora",
        "Ud.": "usted", "Uds.": "ustedes", "etc.": "etcétera", "p. ej.": "por ejemplo",
        "aprox.": "aproximadamente", "Av.": "avenida", "Avda.": "avenida",
    },
    "de": {
        "Hr.": "Herr", "Fr.": "Frau", "Dr.": "Doktor", "Prof.": "Professor", "z. B.": "zum Beispiel",
        "z.B.": "zum Beispiel", "usw.": "und so weiter", "bzw.": "beziehungsweise", "ca.": "circa",
        "d. h.": "das heißt", "d.h.": "das heißt", "inkl.": "inklusive", "ggf.": "gegebenenfalls",
        "Str.": "Straße", "u. a.": "unter anderem", "evtl.": "eventuell",
    },
    "fr": {
        "M.": "Monsieur", "MM.": "Messieurs", "Mme": "Madame", "Mlle": "Mademoiselle",
        "Dr": "Docteur", "Pr": "Professeur", "etc.": "et cetera", "p. ex.": "par exemple",
        "av.": "avenue", "bd": "boulevard",
    },
    "it": {"Sig.": "signor", "Sig.ra": "signora", "Dott.": "dottor", "ecc.": "eccetera", "Prof.": "professor"},
    "pt": {"Sr.": "senhor", "Sra.": "senhora", "Dr.": "doutor", "Dra.": "doutora", "etc.": "etcétera"},
    "nl": {"dhr.": "de heer", "mevr.": "mevrouw", "bijv.": "bijvoorbeeld", "enz.": "enzovoort"},
}
# Abbreviations that are only expanded before a number ("No. 5"): elsewhere "No." is "no".
_ABBREVIATIONS_BEFORE_NUMBERS: dict[str, dict[str, str]] = {
    "en": {"No.": "number", "Nos.": "numbers", "pp.": "pages", "p.": "page"},
    "de": {"Nr.": "Nummer", "S.": "Seite"},
    "es": {"n.º": "número", "núm.": "número", "pág.": "página"},
    "fr": {"n°": "numéro", "no": "numéro", "p.": "page"},
}
_PERCENT = {
    "en": "percent", "es": "por ciento", "de": "Prozent", "fr": "pour cent", "it": "per cento",
    "pt": "por cento", "nl": "procent", "pl": "procent", "cs": "procent", "sv": "procent",
    "da": "procent", "no": "prosent", "fi": "prosenttia", "id": "persen", "ca": "per cent",
    "ro": "la sută", "hu": "százalék", "sk": "percent", "sl": "odstotkov", "lt": "procentų",
    "lv": "procenti", "is": "prósent", "eo": "elcento",
}
# Before the number, where the language says it first.
_PERCENT_BEFORE = {"tr": "yüzde"}
_OCLOCK = {"en": "o'clock", "de": "Uhr", "fr": "heures", "nl": "uur"}
_UNITS_EN = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"), "ml": ("milliliter", "milliliters"), "l": ("liter", "liters"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"), "oz": ("ounce", "ounces"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "ft": ("foot", "feet"),
    "in": None,  # "5 in 1" is not inches
    "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"), "TB": ("terabyte", "terabytes"),
    "kB": ("kilobyte", "kilobytes"), "mAh": ("milliamp hour", "milliamp hours"),
    "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "Hz": ("hertz", "hertz"), "GHz": ("gigahertz", "gigahertz"), "fps": ("frame per second", "frames per second"),
}
_AND = {"en": "and", "es": "con", "de": "und", "fr": "et", "it": "e", "pt": "e", "nl": "en"}

# Currency symbols -> ISO 4217 (by territory where a symbol is shared).
_DOLLAR_TERRITORIES = {
    "CA": "CAD", "AU": "AUD", "NZ": "NZD", "MX": "MXN", "SG": "SGD", "HK": "HKD", "TW": "TWD",
    "AR": "ARS", "CL": "CLP", "CO": "COP",
}
_SYMBOLS = {"€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS",
            "₫": "VND", "฿": "THB", "₴": "UAH", "₱": "PHP", "zł": "PLN", "R$": "BRL", "CHF": "CHF",
            "US$": "USD", "A$": "AUD", "C$": "CAD", "HK$": "HKD", "S$": "SGD"}
_CODES = ("USD", "EUR", "GBP", "JPY", "CNY", "RMB", "INR", "KRW", "RUB", "TRY", "ILS", "CHF", "CAD",
          "AUD", "MXN", "BRL", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "ZAR", "SGD", "HKD", "NZD")
# Names where num2words has none (or not the usual one) for a language.
_CURRENCY_NAMES = {
    "en": {"EUR": (("euro", "euros"), ("cent", "cents")), "JPY": (("yen", "yen"), None),
           "CNY": (("yuan", "yuan"), ("fen", "fen")), "INR": (("rupee", "rupees"), ("paisa", "paise")),
           "KRW": (("won", "won"), None), "CHF": (("Swiss franc", "Swiss francs"), ("centime", "centimes")),
           "CAD": (("Canadian dollar", "Canadian dollars"), ("cent", "cents")),
           "AUD": (("Australian dollar", "Australian dollars"), ("cent", "cents")),
           "MXN": (("peso", "pesos"), ("centavo", "centavos")), "BRL": (("real", "reais"), ("centavo", "centavos")),
           "ILS": (("shekel", "shekels"), ("agora", "agorot")), "TRY": (("lira", "liras"), ("kurus", "kurus"))},
    "de": {"JPY": (("Yen", "Yen"), None), "CHF": (("Franken", "Franken"), ("Rappen", "Rappen"))},
    "fr": {"CHF": (("franc suisse", "francs suisses"), ("centime", "centimes"))},
}


# --------------------------------------------------------------------------- numbers


def _cardinal(value: int | Decimal, language: str) -> str:
    from num2words import num2words

    words = num2words(value, lang=language)
    return words.replace(",", "") if language == "en" else words


def _ordinal(value: int, language: str) -> str:
    from num2words import num2words

    return num2words(value, lang=language, to="ordinal")


def _year(value: int, language: str) -> str:
    from num2words import num2words

    if language == "en":
        return num2words(value, lang="en", to="year").replace(",", "")
    return _cardinal(value, language)


@cache
def _separators(language: str) -> tuple[str, str]:
    """(decimal, group) separators of the language (CLDR); ("." , ",") when unknown."""
    try:
        from babel.numbers import get_decimal_symbol, get_group_symbol

        return get_decimal_symbol(language), get_group_symbol(language)
    except Exception:  # noqa: BLE001 - an unknown locale is not an error for speech
        return ".", ","


_GROUPS = ",.'\u00a0\u202f "


def _parse_number(text: str, language: str) -> Decimal | None:
    """A written number in the language's notation -> its value (None if unreadable)."""
    decimal, group = _separators(language)
    groups = set(_GROUPS) - {decimal}
    if group not in _GROUPS:
        groups.add(group)
    body = text
    # A separator followed by exactly three digits, repeated, is grouping; the language's
    # decimal separator (once, last) is the decimal point.
    integer, _, fraction = body.rpartition(decimal) if decimal in body else (body, "", "")
    if not integer:
        integer, fraction = fraction, ""
    parts = re.split("[" + re.escape("".join(groups)) + "]", integer)
    if len(parts) > 1 and (not 1 <= len(parts[0]) <= 3 or any(len(p) != 3 for p in parts[1:])):
        # "3.14" in German: not grouping, so read the separator as a decimal point.
        if len(parts) == 2 and decimal not in body:
            integer, fraction = parts
            parts = [integer]
        else:
            return None
    digits = "".join(parts)
    if not digits.isdigit() or (fraction and not fraction.isdigit()):
        return None
    try:
        return Decimal(digits + ("." + fraction if fraction else ""))
    except InvalidOperation:
        return None


def _number_words(value: Decimal, language: str) -> str:
    if value == value.to_integral_value() and "." not in str(value):
        return _cardinal(int(value), language)
    return _cardinal(value, language)


def _currency(value: Decimal, code: str, language: str, *, cents_written: bool) -> str | None:
    forms = _CURRENCY_NAMES.get(language, {}).get(code)
    if forms is None:
        converter = _converters()[language]
        table = getattr(converter, "CURRENCY_FORMS", {})
        forms = table.get(code)
    if forms is None:
        return None
    converter = _converters()[language]
    whole = int(value)
    cents = int((value - whole) * 100) if cents_written else 0
    unit, minor = forms[0], forms[1] if len(forms) > 1 else None

    def plural(n: int, pair) -> str:
        try:
            return converter.pluralize(n, pair)
        except Exception:  # noqa: BLE001 - some converters want other shapes
            return pair[0] if n == 1 else pair[-1]

    out = f"{_cardinal(whole, language)} {plural(whole, unit)}"
    if cents and minor:
        joiner = _AND.get(language, "")
        out += f" {joiner} " if joiner else " "
        out += f"{_cardinal(cents, language)} {plural(cents, minor)}"
    elif cents:
        out = f"{_number_words(value, language)} {plural(2, unit)}"
    return " ".join(out.split())


# --------------------------------------------------------------------------- dates and times

def _month_names(language: str) -> list[str] | None:
    try:
        from babel.dates import get_month_names

        names = get_month_names("wide", context="format", locale=language)
        return [names[i] for i in range(1, 13)]
    except Exception:  # noqa: BLE001
        return None


def _date_words(year: int, month: int, day: int, language: str) -> str | None:
    try:
        dt.date(year, month, day)
    except ValueError:
        return None
    months = _month_names(language)
    if months is None:
        return None
    month_name = months[month - 1]
    if language == "en":
        return f"{month_name} {_ordinal(day, 'en')}, {_year(year, 'en')}"
    if language == "de":
        return f"{_ordinal(day, 'de')} {month_name} {_year(year, 'de')}"
    if language in ("es", "pt"):
        return f"{_cardinal(day, language)} de {month_name} de {_year(year, language)}"
    if language == "fr":
        first = "premier" if day == 1 else _cardinal(day, "fr")
        return f"{first} {month_name} {_year(year, 'fr')}"
    return f"{_cardinal(day, language)} {month_name} {_year(year, language)}"


def _read_date(a: int, b: int, year: int, *, month_first: bool) -> tuple[int, int] | None:
    """(month, day) for a/b/year under the date policy (module docstring)."""
    month, day = (a, b) if month_first else (b, a)
    if month > 12 and day <= 12:
        month, day = day, month
    try:
        dt.date(year, month, day)
    except ValueError:
        return None
    return month, day


def _time_words(hour: int, minute: int, language: str, suffix: str | None) -> str | None:
    if not (0 <= hour <= 24 and 0 <= minute <= 59):
        return None
    if language == "en":
        words = _cardinal(hour, "en")
        if minute == 0:
            words += "" if suffix else " o'clock"
        elif minute < 10:
            words += f" oh {_cardinal(minute, 'en')}"
        else:
            words += f" {_cardinal(minute, 'en')}"
        if suffix:
            words += " " + " ".join(suffix.replace(".", "").lower())
        return words
    hour_words = _cardinal(hour, language)
    minute_words = _cardinal(minute, language) if minute else ""
    if language == "de":
        return f"{hour_words} Uhr {minute_words}".strip()
    if language == "fr":
        return f"{hour_words} heures {minute_words}".strip()
    oclock = _OCLOCK.get(language)
    if not minute:
        return f"{hour_words} {oclock}" if oclock else hour_words
    return f"{hour_words} {minute_words}"


# --------------------------------------------------------------------------- Roman numerals

_ROMAN = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
# Valid numerals that are usually something else in an ad (sizes, formats, titles).
_NOT_ROMAN = frozenset({"XL", "XXL", "CD", "DC", "MD", "MC", "CV", "DI", "LI", "MI", "MIX", "DIV",
                        "MID", "CIVIC", "LIV", "DIM", "MIL", "VIVID", "CC", "CL", "DM", "CM", "MM"})


def _roman_value(text: str) -> int | None:
    if len(text) < 2 or text in _NOT_ROMAN or not _ROMAN.fullmatch(text):
        return None
    total = 0
    for i, char in enumerate(text):
        value = _ROMAN_VALUES[char]
        total += -value if i + 1 < len(text) and _ROMAN_VALUES[text[i + 1]] > value else value
    return total or None


# --------------------------------------------------------------------------- the scanner

_NUM = r"\d{1,3}(?:[,.'\u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
# Languages that group digits with a space (CLDR: a no-break space) also accept a plain one.
_NUM_SPACED = r"\d{1,3}(?:[,.'\u00a0\u202f ]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_CURRENCY_PREFIX = "|".join(re.escape(s) for s in sorted([*_SYMBOLS, "$", "¥"], key=len, reverse=True))
_CURRENCY_SUFFIX = "|".join(re.escape(s) for s in sorted([*_SYMBOLS, "$", "¥", *_CODES, "€", "euros?"],
                                                          key=len, reverse=True))
_UNIT_WORDS = "|".join(re.escape(u) for u in sorted(_UNITS_EN, key=len, reverse=True))

@cache
def _pattern(spaced: bool) -> regex.Pattern:
    number = _NUM_SPACED if spaced else _NUM
    return regex.compile(
        rf"""
        (?P<iso>(?<![\w/.-])(?P<iy>\d{{4}})[-/.](?P<im>\d{{1,2}})[-/.](?P<id>\d{{1,2}})(?![\w/.-]))
      | (?P<date>(?<![\w/.-])(?P<da>\d{{1,2}})(?P<ds>[/.-])(?P<db>\d{{1,2}})(?P=ds)(?P<dy>\d{{4}}|\d{{2}})(?![\w/-]|\.\d))
      | (?P<always>(?<![\w/])24/7(?![\w/]))
      | (?P<time>(?<![\w:.])(?P<th>\d{{1,2}}):(?P<tm>\d{{2}})(?!:?\d)(?:\s?(?P<tsuf>[AaPp]\.?[Mm]\.?)(?!\w))?)
      | (?P<time_h>(?<![\w:.])(?P<hh>\d{{1,2}})h(?P<hm>\d{{2}})?(?!\w))
      | (?P<money1>(?<![\w])(?P<mneg>-)?(?P<msym>{_CURRENCY_PREFIX})\s?(?P<mnum>{number})(?![\w]))
      | (?P<money2>(?<![\w.,])(?P<nnum>{number})\s?(?P<nsym>{_CURRENCY_SUFFIX})(?![\w]))
      | (?P<pct>(?<![\w.,])(?P<pnum>{number})\s?%)
      | (?P<ord_en>(?<![\w.,])(?P<on>\d+)(?P<osuf>st|nd|rd|th)(?!\w))
      | (?P<ord_rom>(?<![\w.,])(?P<rn>\d+)(?P<rsuf>[ºª°]|\.º|\.ª)(?![\w]))
      | (?P<ord_fr>(?<![\w.,])(?P<fn>\d+)(?P<fsuf>er|re|e|ème|eme)(?!\w))
      | (?P<unit>(?<![\w.,])(?P<unum>{number})\s?(?P<uname>{_UNIT_WORDS})(?![\w/]))
      | (?P<plus>(?<![\w.,])(?P<plnum>\d+)\+(?!\w))
      | (?P<num>(?<![\w.,])(?P<nval>{number})(?![\w]|[.,]\d))
      | (?P<roman>(?<=\b\p{{Lu}}\p{{L}}*[ \u00a0])(?P<rom>[MDCLXVI]{{2,}})(?!\w))
        """,
        regex.VERBOSE,
    )


def _abbreviation_pattern(language: str) -> regex.Pattern | None:
    table = {**_ABBREVIATIONS.get(language, {})}
    before = _ABBREVIATIONS_BEFORE_NUMBERS.get(language, {})
    if not table and not before:
        return None
    alternatives = []
    for key in sorted(table, key=len, reverse=True):
        alternatives.append(rf"(?<![\w.]){re.escape(key)}(?=\s|$|[,;:!?)])")
    for key in sorted(before, key=len, reverse=True):
        alternatives.append(rf"(?<![\w.]){re.escape(key)}(?=\s?\d)")
    return regex.compile("|".join(alternatives))


_ABBREVIATION_PATTERNS = {code: _abbreviation_pattern(code) for code in set(_ABBREVIATIONS) | set(_ABBREVIATIONS_BEFORE_NUMBERS)}


def normalize_spans(text: str, language: str, territory: str | None = None) -> list[tuple[int, int, str]]:
    """What to write out in ``text``: sorted, non-overlapping ``(start, end, words)``.

    Only for ``LANGUAGES`` (num2words); other languages get ``[]``. ``territory`` (ISO 3166
    alpha-2) decides ambiguous dates and "$" (see the module docstring).
    """
    if language not in LANGUAGES:
        return []
    out: list[tuple[int, int, str]] = []
    abbreviations = _ABBREVIATION_PATTERNS.get(language)
    if abbreviations is not None:
        table = {**_ABBREVIATIONS.get(language, {}), **_ABBREVIATIONS_BEFORE_NUMBERS.get(language, {})}
        for match in abbreviations.finditer(text):
            out.append((match.start(), match.end(), table[match.group()]))
    taken = [(a, b) for a, b, _ in out]
    month_first = (territory in MONTH_FIRST_TERRITORIES) if territory else language == "en"
    spaced = _separators(language)[1] in ("\u00a0", "\u202f", " ")
    for match in _pattern(spaced).finditer(text):
        start, end = match.span()
        if any(a < end and start < b for a, b in taken):
            continue
        words = _replacement(match, language, territory, month_first)
        if words is not None:
            out.append((start, end, words))
    out.sort()
    return out


def _replacement(match: regex.Match, language: str, territory: str | None, month_first: bool) -> str | None:
    kind = match.lastgroup
    group = match.group
    try:
        if kind == "iso":
            return _date_words(int(group("iy")), int(group("im")), int(group("id")), language)
        if kind == "date":
            year = int(group("dy"))
            if len(group("dy")) == 2:
                year += 2000 if year < 70 else 1900
            read = _read_date(int(group("da")), int(group("db")), year, month_first=month_first)
            if read is None:  # no real date either way: the numbers, as numbers
                return f"{_cardinal(int(group('da')), language)} {_cardinal(int(group('db')), language)} {_year(year, language)}"
            return _date_words(year, read[0], read[1], language)
        if kind == "time":
            return _time_words(int(group("th")), int(group("tm")), language, group("tsuf"))
        if kind == "time_h":  # French "8h", "8h30"
            return _time_words(int(group("hh")), int(group("hm") or 0), language, None) if language == "fr" else None
        if kind == "always":
            return "twenty-four seven" if language == "en" else None
        if kind in ("money1", "money2"):
            symbol = group("msym") or group("nsym")
            number = group("mnum") or group("nnum")
            code = _currency_code(symbol, language, territory)
            value = _parse_number(number, language)
            if value is None or code is None:
                return None
            cents_written = bool(re.search(r"[.,]\d{1,2}$", number)) and value != int(value)
            words = _currency(value, code, language, cents_written=cents_written)
            if words and group("mneg"):
                words = "minus " + words if language == "en" else words
            return words
        if kind == "pct":
            value = _parse_number(group("pnum"), language)
            if value is None:
                return None
            if language in _PERCENT_BEFORE:
                return f"{_PERCENT_BEFORE[language]} {_number_words(value, language)}"
            word = _PERCENT.get(language)
            return f"{_number_words(value, language)} {word}" if word else None
        if kind == "ord_en":
            return _ordinal(int(group("on")), "en") if language == "en" else None
        if kind == "ord_rom":
            return _ordinal(int(group("rn")), language) if language in ("es", "pt", "it", "gl", "ca") else None
        if kind == "ord_fr":
            if language != "fr":
                return None
            number = int(group("fn"))
            return "premier" if number == 1 and group("fsuf") == "er" else (
                "première" if number == 1 else _ordinal(number, "fr"))
        if kind == "unit":
            if language != "en":
                return None
            forms = _UNITS_EN.get(group("uname"))
            value = _parse_number(group("unum"), language)
            if forms is None or value is None:
                return None
            return f"{_number_words(value, language)} {forms[0] if value == 1 else forms[1]}"
        if kind == "plus":
            return f"{_cardinal(int(group('plnum')), language)} plus" if language == "en" else None
        if kind == "num":
            raw = group("nval")
            value = _parse_number(raw, language)
            if value is None:
                return None
            if raw.isdigit() and len(raw) == 4 and 1100 <= int(raw) <= 2099:
                return _year(int(raw), language)
            if raw.isdigit() and len(raw) > 15:
                return " ".join(_cardinal(int(d), language) for d in raw)  # a code, read digit by digit
            return _number_words(value, language)
        if kind == "roman":
            value = _roman_value(group("rom"))
            return _cardinal(value, language) if value else None
    except (NotImplementedError, OverflowError, ValueError, TypeError, KeyError, IndexError):
        return None
    return None


def _currency_code(symbol: str, language: str, territory: str | None) -> str | None:
    if symbol == "$":
        return _DOLLAR_TERRITORIES.get(territory or "", "USD")
    if symbol == "¥":
        return "CNY" if language == "zh" or territory == "CN" else "JPY"
    if symbol.lower().startswith("euro"):
        return "EUR"
    if symbol == "RMB":
        return "CNY"
    return _SYMBOLS.get(symbol, symbol if symbol in _CODES else None)


def normalize_text(text: str, language: str, territory: str | None = None) -> str:
    """``text`` with every ``normalize_spans`` replacement applied (for tests and screening)."""
    pieces, cursor = [], 0
    for start, end, words in normalize_spans(text, language, territory):
        pieces.append(text[cursor:start])
        pieces.append(words)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
