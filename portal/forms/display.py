"""Answers as residents write them: dates as 01.11.2026, amounts as 96,00 zł (PLN 96.00 in English), decimals
with the Polish comma. Only for showing: the draft and the document keep ISO dates and dotted decimals.
portal/static/forms.js formats the fee preview the same way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from portal.forms import flow
from portal.forms.definitions import ServiceDefinition

NBSP = "\u00a0"  # "96,00 zł" never breaks between the figure and the currency


def day(value: Any) -> str:
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    try:
        return date.fromisoformat(str(value)).strftime("%d.%m.%Y")
    except ValueError:
        return str(value)  # an unchecked answer kept by the autosave: shown as it was typed


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _grouped(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    return separator.join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])


def number(value: Any, lang: str, places: int | None = None, group: bool = False) -> str:
    """12.5 as 12,5 in Polish; `places` fixes the decimals, `group` separates thousands (1 234,00; 1,234.00)."""
    found = _decimal(value)
    if found is None:
        return str(value)
    if places is not None:
        found = found.quantize(Decimal(1).scaleb(-places))
    sign = "-" if found < 0 else ""
    whole, _, fraction = format(abs(found), "f").partition(".")
    if group:
        whole = _grouped(whole, NBSP if lang == "pl" else ",")
    point = "," if lang == "pl" else "."
    return sign + whole + (point + fraction if fraction else "")


def amount(value: Any, lang: str, currency: str = "PLN") -> str:
    """96,00 zł in Polish, PLN 96.00 in English."""
    if _decimal(value) is None:
        return str(value)
    figure = number(value, lang, places=2, group=True)
    if currency == "PLN" and lang == "pl":
        return f"{figure}{NBSP}zł"
    return f"{currency}{NBSP}{figure}"


def answer(spec: Any, value: Any, lang: str) -> str:
    """A date, number or amount answer for the summary; any other answer as it is."""
    if value is None or value == "":
        return ""
    if spec.type == "date":
        return day(value)
    if spec.type in ("number", "decimal"):
        if spec.currency:
            return amount(value, lang, spec.currency)
        return number(value, lang)
    return str(value)


SUBJECT_LENGTH = 80
TITLE_FIELD = "tytul"  # the general letter's "Tytuł pisma" (and any service with a title of its own)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUBJECT_LENGTH else text[:SUBJECT_LENGTH - 1].rstrip() + "…"


def subject(definition: ServiceDefinition, values: dict[str, Any] | None, lang: str) -> str | None:
    """What tells one draft of a service from another: its title, else the first answer the resident typed
    (not one filled in from the login), else the first choice made; None while nothing is answered."""
    values = values or {}
    shown = [f for f in definition.fields
             if not f.compute and not f.is_group and f.type != "checkbox" and flow.field_visible(f, values)
             and any(f in s.fields and flow.step_visible(s, values) for s in definition.steps)]
    answered = [f for f in shown if isinstance(values.get(f.id), str) and values[f.id].strip()]
    typed = [f for f in answered if f.type in ("text", "textarea") and not f.prefill]
    title = next((f for f in typed if f.id == TITLE_FIELD), None)
    if title or typed:
        return _short(values[(title or typed[0]).id])
    chosen = next((f for f in answered if f.type in ("choice", "select")), None)
    if chosen is not None:
        label = next((c.label for c in chosen.choices if c.value == values[chosen.id]), None)
        return _short(label.get(lang) or label["pl"]) if label else None
    return None
