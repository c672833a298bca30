"""Hypothesis strategies built from a service definition and its XSD: answers a resident could give."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from portal.forms import schemas, wtf
from portal.forms.definitions import Field, ServiceDefinition

# Letters residents type, Polish ones included; no control characters (XML 1.0 forbids most).
ALPHABET = st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="\u2028\u2029")


def _text(component: Any, field: Field, multiline: bool = False) -> st.SearchStrategy[str]:
    facets = schemas.facets(component)
    low = max(x for x in (1, field.min_length, facets["min_length"]) if x is not None)
    high = min(x for x in (200, field.max_length, facets["max_length"]) if x is not None)
    alphabet = st.one_of(ALPHABET, st.just("\n")) if multiline else ALPHABET
    return st.text(alphabet, min_size=low, max_size=high).map(str.strip).filter(lambda s: low <= len(s) <= high)


def value(field: Field, component: Any) -> st.SearchStrategy[Any]:
    facets = schemas.facets(component) if component is not None else {}
    if field.type in ("choice", "select"):
        return st.sampled_from([c.value for c in field.choices])
    if field.type == "checkbox":
        return st.just(True) if field.required else st.booleans()
    if field.type == "date":
        low, high = wtf.date_range(field)
        return st.dates(low or date(2020, 1, 1), high or date(2035, 12, 31)).map(date.isoformat)
    if field.type == "email":
        return st.from_regex(r"[a-z]{1,12}(\.[a-z]{1,8})?@[a-z]{2,12}\.(pl|eu|com)", fullmatch=True)
    if field.type == "postcode":
        return st.from_regex(r"[0-9]{2}-[0-9]{3}", fullmatch=True)
    if field.type == "phone":
        return st.from_regex(r"\+?48 [0-9]{3} [0-9]{3} [0-9]{3}", fullmatch=True)
    if field.type == "number":
        low = int(field.min_value if field.min_value is not None else facets.get("min_value") or 1)
        high = int(field.max_value if field.max_value is not None else facets.get("max_value") or 10_000)
        return st.integers(low, high).map(str)
    if field.type == "decimal":
        return st.decimals(Decimal("0.01"), Decimal("9999.99"), places=2).map(str)
    if facets.get("patterns"):
        pattern = facets["patterns"][0].pattern
        return st.from_regex(pattern, fullmatch=True).filter(lambda s: schemas.is_valid_value(component, s))
    return _text(component, field, multiline=field.type == "textarea")


def answers(definition: ServiceDefinition, components: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A full set of answers: every question, shown or not (hidden ones must simply not count)."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for field in definition.fields:
        if field.compute:
            continue
        if field.is_group:
            item = st.fixed_dictionaries({sub.id: value(sub, components[f"{field.id}.{sub.id}"])
                                          for sub in field.fields})
            parts[field.id] = st.lists(item, min_size=max(field.min_items, 1), max_size=min(field.max_items, 3))
        else:
            strategy = value(field, components[field.id])
            parts[field.id] = strategy if field.required else st.one_of(st.none(), strategy)
    # a not-before date must not precede its partner: order them after drawing
    return st.fixed_dictionaries(parts).map(lambda a: _order_dates(definition, a))


def _order_dates(definition: ServiceDefinition, answers: dict[str, Any]) -> dict[str, Any]:
    for field in definition.fields:
        if field.not_before and answers.get(field.id) and answers.get(field.not_before):
            first, second = sorted([answers[field.not_before], answers[field.id]])
            answers[field.not_before], answers[field.id] = first, second
    return answers


def invalid(field: Field, component: Any) -> list[str]:
    """Answers the field must refuse with a message (never a server error)."""
    facets = schemas.facets(component) if component is not None else {}
    bad: list[str] = []
    limit = min(x for x in (field.max_length, facets.get("max_length"), 100_000) if x is not None)
    if field.type in ("text", "textarea"):
        bad.append("x" * (limit + 1))
    if field.type in ("number", "decimal"):
        bad += ["dwa", "1e400", "-5" if (field.min_value or facets.get("min_value") or 0) >= 0 else "9" * 30]
    if field.type == "number":
        bad.append("1.5")
    if field.type == "date":
        bad += ["2026-02-30", "wczoraj"]
        low, high = wtf.date_range(field)
        bad += [d.isoformat() for d in (low and low - timedelta(days=1), high and high + timedelta(days=1)) if d]
    if field.type == "postcode":
        bad += ["6410", "64-1000"]  # 64100 and 64 100 are accepted (and stored as 64-100)
    if field.type == "email":
        bad.append("nie-adres")
    if facets.get("patterns") and field.type == "text":
        bad.append("??")
    return bad


# What a hostile or careless client may send in any text: markup, the end of a CDATA section, NUL and
# other control characters, lone surrogates' neighbours, right-to-left marks, very long strings.
SCRIPT = "<script>alert(1)</script>"
TAG = '"><img src=x onerror=alert(1)>'
HOSTILE_PIECES = (SCRIPT, TAG, "]]>", "<![CDATA[x]]>", "\x00", "\x1b[31m", "\u202e", "\ufeff", "\uffff", "&amp;",
                  "{{ 7*7 }}", "%(x)s", "'; DROP TABLE submission; --", "\r\n", "\t", "..\\..", "\U0001f600")


def hostile_text(max_size: int = 300) -> st.SearchStrategy[str]:
    """Any unicode (control characters included), known troublemakers, and strings far past any limit."""
    anything = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=max_size)
    pieces = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), anything), min_size=1, max_size=4).map("".join)
    very_long = st.tuples(st.sampled_from(HOSTILE_PIECES + ("x", "ą")), st.integers(2_000, 20_000)).map(
        lambda pair: pair[0] * (pair[1] // len(pair[0])))
    return st.one_of(anything, pieces, very_long)


def unescaped_markup(html: str) -> list[str]:
    """The hostile markup that reached a page as markup instead of as text."""
    return [piece for piece in (SCRIPT, TAG) if piece in html]
