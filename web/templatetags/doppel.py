"""Template filters and tags of the web app.

* ``{{ amount|money:currency }}`` — integer minor units shown with the currency's own
  decimals (CLDR via Babel, the table payments.currencies uses): 1234 USD → "$12.34",
  1234 JPY → "¥1,234", 12345 KWD → "KWD 12.345".
* ``{% when dt %}`` — a ``<time>`` element with the UTC instant; static/web/app.js
  rewrites it in the viewer's time zone (JavaScript off: UTC, labelled).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision
from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    if amount is None or amount == "":
        return ""
    try:
        digits = get_currency_precision(currency)
        value = Decimal(int(amount)).scaleb(-digits)
        return format_currency(value, currency, locale="en_US", currency_digits=True)
    except (ValueError, TypeError, ArithmeticError):
        return f"{amount} {currency}"


@register.simple_tag
def when(value) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return format_html('<time datetime="{}" data-local>{}</time>', value.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       value.strftime("%Y-%m-%d %H:%M UTC"))


@register.filter
def rule_words(rule: str) -> str:
    """A policy rule code in words ("platform_not_allowed" → "Platform not allowed")."""
    return str(rule or "").replace("_", " ").capitalize()
