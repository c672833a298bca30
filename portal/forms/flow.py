"""Which steps and questions a resident sees, given the answers so far, and what the form computes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from portal.forms.definitions import ATTACHMENTS_STEP, AttachmentRule, Field, ServiceDefinition, Step

Calculator = Callable[[Mapping[str, Any], dict[str, Any]], str | None]
_calculators: dict[str, Calculator] = {}


def calculator(name: str) -> Callable[[Calculator], Calculator]:
    def register(function: Calculator) -> Calculator:
        if name in _calculators:
            raise ValueError(f"calculator {name!r} is already registered")
        _calculators[name] = function
        return function

    return register


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).replace(",", ".")) if value not in (None, "") else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


@calculator("per-person-fee")
def per_person_fee(answers: Mapping[str, Any], params: dict[str, Any]) -> str | None:
    """A monthly fee: people × rate, less a per-person discount when a condition holds (e.g. composting)."""
    persons = _decimal(answers.get(params["persons"]))
    if persons is None:
        return None
    rate = Decimal(str(params["rate"]))
    discount = Decimal(str(params.get("discount", "0")))
    if params.get("discount_if") and str(answers.get(params["discount_if"])).lower() in ("true", "tak"):
        rate -= discount
    try:
        return str((persons * rate).quantize(Decimal("0.01")))
    except InvalidOperation:  # an unchecked answer far out of range (kept by the autosave): nothing to show
        return None


# Calculators portal/static/forms.js repeats in the browser, to show the figure while it is being typed.
BROWSER_CALCULATORS = {"per-person-fee"}


def browser_formula(field: Field) -> dict[str, Any] | None:
    """What the browser needs to preview a computed answer: the calculator and the definition's parameters."""
    if not field.compute or field.compute.get("calculator") not in BROWSER_CALCULATORS:
        return None
    return {**{k: str(v) for k, v in field.compute.items()}, **({"currency": field.currency} if field.currency else {})}


def field_visible(field: Field, answers: Mapping[str, Any]) -> bool:
    return field.show_if is None or field.show_if.holds(answers)


def step_visible(step: Step, answers: Mapping[str, Any]) -> bool:
    return step.show_if is None or step.show_if.holds(answers)


def attachment_rules(definition: ServiceDefinition, answers: Mapping[str, Any]) -> list[AttachmentRule]:
    return [r for r in definition.attachments if r.show_if is None or r.show_if.holds(answers)]


def step_ids(definition: ServiceDefinition, answers: Mapping[str, Any]) -> list[str]:
    """The steps this resident passes through, in order."""
    ids = [s.id for s in definition.steps if step_visible(s, answers)]
    if attachment_rules(definition, answers):
        ids.append(ATTACHMENTS_STEP)
    return ids


def effective_answers(definition: ServiceDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers that count: those of visible steps and fields, with computed fields filled in.

    A hidden answer stays in the draft (the resident may come back to it) but never reaches the document.
    """
    result: dict[str, Any] = {}
    for step in definition.steps:
        if not step_visible(step, answers):
            continue
        for field in step.fields:
            if not field_visible(field, answers):
                continue
            if field.compute:
                result[field.id] = _calculators[field.compute["calculator"]](answers, field.compute)
            elif field.type == "checkbox":
                result[field.id] = bool(answers.get(field.id))  # an unticked box is an answer: "no"
            else:
                result[field.id] = answers.get(field.id)
    return result


def known_calculator(name: str) -> bool:
    return name in _calculators
