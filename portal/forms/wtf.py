"""WTForms forms built at run time from a service definition, one form class per step."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import DateField, Field, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp

from portal.forms.definitions import Field as FieldDefinition
from portal.forms.definitions import Step


def lang() -> str:
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "pl"


def text(value: dict[str, str] | None) -> str:
    if not value:
        return ""
    return value.get(lang()) or value.get("pl", "")


def _validators(spec: FieldDefinition) -> list[Any]:
    label = text(spec.label)
    validators: list[Any] = []
    if spec.required:
        if spec.type == "choice":
            message = _("Wybierz: %(label)s.", label=label.lower())
        else:
            message = _("Uzupełnij pole „%(label)s”.", label=label)
        validators.append(InputRequired(message=message))
    else:
        validators.append(Optional())
    if spec.max_length:
        validators.append(Length(max=spec.max_length, message=_(
            "Pole „%(label)s” może mieć najwyżej %(max)d znaków.", label=label, max=spec.max_length)))
    if spec.type == "postcode":
        validators.append(Regexp(r"^\d{2}-\d{3}$", message=_("Wpisz kod pocztowy w formacie 00-000.")))
    if spec.type == "email":
        validators.append(Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_(
            "Wpisz adres e-mail w formacie nazwa@domena.pl.")))
    return validators


def _field(spec: FieldDefinition) -> Field:
    kwargs: dict[str, Any] = {
        "label": text(spec.label),
        "description": text(spec.hint),
        "validators": _validators(spec),
    }
    if spec.type == "textarea":
        return TextAreaField(**kwargs)
    if spec.type == "choice":
        return RadioField(choices=[SelectChoice(c.value, text(c.label)) for c in spec.choices], **kwargs)
    if spec.type == "date":
        return DateField(format="%Y-%m-%d", **kwargs)
    return StringField(**kwargs)


def step_form(step: Step, data: dict[str, Any] | None = None, formdata: Any = None) -> FlaskForm:
    """An instance of the step's form, filled from the draft (GET) or the request (POST)."""

    class StepForm(FlaskForm):
        pass

    for spec in step.fields:
        setattr(StepForm, spec.id, _field(spec))
    initial = {k: v for k, v in (data or {}).items() if v is not None}
    for spec in step.fields:
        if spec.type == "date" and isinstance(initial.get(spec.id), str):
            initial[spec.id] = date.fromisoformat(initial[spec.id])
    kwargs: dict[str, Any] = {"data": initial}
    if formdata is not None:
        kwargs["formdata"] = formdata
    return StepForm(**kwargs)


def answers(form: FlaskForm, step: Step) -> dict[str, Any]:
    """The step's answers as the draft stores them: strings, dates in ISO form, blanks as None."""
    result: dict[str, Any] = {}
    for spec in step.fields:
        value = form[spec.id].data
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        if isinstance(value, str):
            value = value.strip() or None
        result[spec.id] = value
    return result
