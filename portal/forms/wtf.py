"""WTForms forms built at run time from a service definition, one form class per step.

Every field's validators come from two places: the definition (required, lengths, pattern,
range, date order) and the service's XSD facets for the element it fills. The last check is
the schema itself (`SchemaValue`), so an answer that passes the form always makes valid XML,
and one that would not gets a message beside its field instead of a server error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Field, FieldList, Form, FormField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError

from portal.clock import WARSAW
from portal.forms import flow, schemas
from portal.forms.definitions import Field as FieldDefinition
from portal.forms.definitions import Step, resolve_date
from portal.language import pick

Components = Mapping[str, Any]  # field id (or "group.field") -> the XSD element or attribute it fills


def today() -> date:
    """The day in Poland: what "today" means in a definition's date limits."""
    return datetime.now(WARSAW).date()


def date_range(spec: FieldDefinition) -> tuple[date | None, date | None]:
    """The first and last day a date question accepts today (None: no limit that way)."""
    now = today()
    return (resolve_date(spec.min_date, now) if spec.min_date else None,
            resolve_date(spec.max_date, now) if spec.max_date else None)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Required:
    def __init__(self, spec: FieldDefinition) -> None:
        label = pick(spec.label)
        if spec.type in ("choice", "select"):
            self.message = _("Wybierz: %(label)s.", label=label[:1].lower() + label[1:])
        elif spec.type == "checkbox":
            self.message = _("Zaznacz: %(label)s.", label=label[:1].lower() + label[1:])
        else:
            self.message = _("Uzupełnij pole „%(label)s”.", label=label)
        self.field_flags = {"required": True}

    def __call__(self, form: Form, field: Field) -> None:
        if field.type == "BooleanField":
            if not field.data:
                raise StopValidation(self.message)
        elif _blank(field.data):
            field.errors[:] = []
            raise StopValidation(self.message)


class Optional:
    def __call__(self, form: Form, field: Field) -> None:
        if field.type != "BooleanField" and _blank(field.data):
            field.errors[:] = []
            raise StopValidation()


class Rule:
    """One requirement on an answer, with a message that says how to put it right."""

    def __init__(self, spec: FieldDefinition, component: Any) -> None:
        self.spec = spec
        self.label = pick(spec.label)
        facets = schemas.facets(component) if component is not None else {}
        self.component = component
        self.max_length = min(x for x in (spec.max_length, facets.get("max_length")) if x is not None) \
            if spec.max_length is not None or facets.get("max_length") is not None else None
        self.min_length = max(x for x in (spec.min_length, facets.get("min_length")) if x is not None) \
            if spec.min_length is not None or facets.get("min_length") is not None else None
        self.min_value = spec.min_value if spec.min_value is not None else facets.get("min_value")
        self.max_value = spec.max_value if spec.max_value is not None else facets.get("max_value")

    def __call__(self, form: Form, field: Field) -> None:
        value = field.data
        spec = self.spec
        if spec.type == "checkbox" or value is None:
            return
        raw = str(value).strip()
        if spec.type == "date":
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                raise ValidationError(_("Wpisz datę w polu „%(label)s” w formacie RRRR-MM-DD.", label=self.label)) \
                    from None
            self._check_range(day)
        if spec.type in ("number", "decimal"):
            try:
                number = Decimal(raw.replace(",", "."))
            except InvalidOperation:
                number = None
            if number is None or (spec.type == "number" and number != number.to_integral_value()):
                kind = _("liczbę całkowitą") if spec.type == "number" else _("liczbę")
                raise ValidationError(_("W polu „%(label)s” wpisz %(kind)s.", label=self.label, kind=kind))
            if self.min_value is not None and number < Decimal(str(self.min_value)):
                raise ValidationError(_("„%(label)s” musi wynosić co najmniej %(min)s.", label=self.label,
                                        min=self.min_value))
            if self.max_value is not None and number > Decimal(str(self.max_value)):
                raise ValidationError(_("„%(label)s” może wynosić najwyżej %(max)s.", label=self.label,
                                        max=self.max_value))
        if self.max_length is not None and len(raw) > self.max_length:
            raise ValidationError(_("Pole „%(label)s” może mieć najwyżej %(max)d znaków.", label=self.label,
                                    max=self.max_length))
        if self.min_length is not None and len(raw) < self.min_length:
            raise ValidationError(_("Pole „%(label)s” musi mieć co najmniej %(min)d znaków.", label=self.label,
                                    min=self.min_length))
        if spec.type == "postcode" and not re.fullmatch(r"\d{2}-\d{3}", raw):
            raise ValidationError(_("Wpisz kod pocztowy w formacie 00-000."))
        if spec.type == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw):
            raise ValidationError(_("Wpisz adres e-mail w formacie nazwa@domena.pl."))
        if spec.type == "phone" and not re.fullmatch(r"\+?[0-9 ()-]{7,20}", raw):
            raise ValidationError(_("Wpisz numer telefonu, np. 65 529 81 00."))
        if spec.pattern and not re.fullmatch(spec.pattern, raw):
            raise ValidationError(pick(spec.pattern_message) or _("Sprawdź format pola „%(label)s”.",
                                                                  label=self.label))
        if self.component is not None and not schemas.is_valid_value(self.component, _lexical(spec, raw)):
            raise ValidationError(pick(spec.pattern_message) or _(
                "Wartość w polu „%(label)s” ma niedozwolony format.", label=self.label))


    def _check_range(self, day: date) -> None:
        low, high = date_range(self.spec)
        if low is not None and day < low:
            if self.spec.min_date == "today":
                raise ValidationError(_("„%(label)s” nie może być datą z przeszłości.", label=self.label))
            raise ValidationError(_("„%(label)s”: wpisz datę nie wcześniejszą niż %(min)s.", label=self.label,
                                    min=low.strftime("%d.%m.%Y")))
        if high is not None and day > high:
            if self.spec.max_date == "today":
                raise ValidationError(_("„%(label)s” nie może być datą z przyszłości.", label=self.label))
            raise ValidationError(_("„%(label)s”: wpisz datę nie późniejszą niż %(max)s.", label=self.label,
                                    max=high.strftime("%d.%m.%Y")))


class NotBefore:
    """A date that may not precede another (e.g. the end of a road occupation and its start)."""

    def __init__(self, spec: FieldDefinition, other: FieldDefinition | None, earlier: Mapping[str, Any]) -> None:
        self.spec, self.other, self.earlier = spec, other, earlier

    def __call__(self, form: Form, field: Field) -> None:
        if self.other is None or _blank(field.data):
            return
        other = form[self.other.id].data if self.other.id in form else self.earlier.get(self.other.id)
        if not _blank(other) and str(field.data) < str(other):
            raise ValidationError(_("„%(label)s” nie może być wcześniej niż „%(other)s”.",
                                    label=pick(self.spec.label), other=pick(self.other.label)))


# Characters XML 1.0 cannot carry (NUL, most control characters, U+FFFE/U+FFFF). They are invisible, so a
# resident who pasted one could not find it to remove it: they are dropped as the answer is read.
_NOT_IN_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> Any:
    return _NOT_IN_XML.sub("", value) if isinstance(value, str) else value


# A postcode typed as 64100 or 64 100: the numeric keypad iOS shows for inputmode="numeric" has no hyphen,
# so the digits alone are the answer, kept in the 00-000 form the schemas (and the post) use.
_POSTCODE = re.compile(r"(\d{2})[\s\u00a0\u2010-\u2013-]?(\d{3})")


def postcode(value: Any) -> Any:
    if isinstance(value, str):
        found = _POSTCODE.fullmatch(value.strip())
        if found:
            return f"{found[1]}-{found[2]}"
    return value


def _lexical(spec: FieldDefinition, raw: str) -> str:
    if spec.type in ("number", "decimal"):
        return raw.replace(",", ".")
    return raw


def _field(spec: FieldDefinition, components: Components, prefix: str, earlier: Mapping[str, Any],
           siblings: dict[str, FieldDefinition]) -> Field:
    kwargs: dict[str, Any] = {"label": pick(spec.label), "description": pick(spec.hint)}
    if spec.is_group:
        item = type("ItemForm", (Form,), {})
        for sub in spec.fields:
            setattr(item, sub.id, _field(sub, components, f"{spec.id}.", earlier, {s.id: s for s in spec.fields}))
        return FieldList(FormField(item), min_entries=max(spec.min_items, 1), max_entries=spec.max_items, **kwargs)
    kwargs["filters"] = [xml_text, postcode] if spec.type == "postcode" else [xml_text]
    validators: list[Any] = [Required(spec) if spec.required else Optional(),
                             Rule(spec, components.get(prefix + spec.id))]
    if spec.not_before:
        validators.append(NotBefore(spec, siblings.get(spec.not_before), earlier))
    kwargs["validators"] = validators
    if spec.type == "textarea":
        return TextAreaField(**kwargs)
    if spec.type == "choice":
        return RadioField(choices=[SelectChoice(c.value, pick(c.label)) for c in spec.choices], validate_choice=False,
                          **kwargs)
    if spec.type == "select":
        return SelectField(choices=[SelectChoice("", _("— wybierz —"))] +
                           [SelectChoice(c.value, pick(c.label)) for c in spec.choices], validate_choice=False,
                           **kwargs)
    if spec.type == "checkbox":
        return BooleanField(**kwargs)
    render = {"date": {"type": "date"}, "number": {"inputmode": "numeric"}, "decimal": {"inputmode": "decimal"},
              "email": {"type": "email", "autocomplete": "email"}, "phone": {"type": "tel", "autocomplete": "tel"},
              "postcode": {"autocomplete": "postal-code", "inputmode": "numeric"}}.get(spec.type)
    if spec.type == "date":
        # The browser's date picker offers only the days the definition allows; the server checks them too.
        low, high = date_range(spec)
        render = {**(render or {}), **({"min": low.isoformat()} if low else {}),
                  **({"max": high.isoformat()} if high else {})}
    if render:
        kwargs["render_kw"] = render
    return StringField(**kwargs)


def _initial(step: Step, values: Mapping[str, Any]) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for spec in step.fields:
        value = values.get(spec.id)
        if value is None:
            continue
        if spec.is_group:
            initial[spec.id] = [{k: v for k, v in item.items() if v is not None} for item in value]
        else:
            initial[spec.id] = value
    return initial


def step_form(step: Step, components: Components, values: Mapping[str, Any], formdata: MultiDict | None = None,
              extra_items: Mapping[str, int] | None = None, csrf: bool = True) -> FlaskForm:
    """The step's form, filled from the draft (no formdata) or from the request.

    `csrf=False` only for re-checking stored answers, never for a form a browser posts.
    """

    class StepForm(FlaskForm):
        class Meta:
            pass

    StepForm.Meta.csrf = csrf

    siblings = {s.id: s for s in step.fields}
    for spec in step.fields:
        if not spec.compute:  # computed answers are shown, never typed
            setattr(StepForm, spec.id, _field(spec, components, "", values, siblings))
    form = StepForm(formdata=formdata, data=_initial(step, values))
    for group_id, count in (extra_items or {}).items():
        for _index in range(count):
            if len(form[group_id].entries) < form[group_id].max_entries:
                form[group_id].append_entry()
    return form


def _item_blank(entry: Any) -> bool:
    return all(_blank(sub.data) or sub.type == "BooleanField" and not sub.data for sub in entry.form)


def validate(form: FlaskForm, step: Step, earlier: Mapping[str, Any]) -> bool:
    """Validate the questions the resident can see; hidden ones (and blank group items) are not asked."""
    ok = form.csrf_token.validate(form) if "csrf_token" in form else True
    answers = {**earlier, **answers_of(form, step)}
    for spec in step.fields:
        if spec.compute or not flow.field_visible(spec, answers):
            continue
        field = form[spec.id]
        if spec.is_group:
            items = [entry for entry in field.entries if not _item_blank(entry)]
            for entry in items:
                ok = entry.form.validate() and ok
            if len(items) < spec.min_items:
                field.errors = [_("Dodaj co najmniej %(n)d: %(label)s.", n=spec.min_items,
                                  label=pick(spec.item_label or spec.label).lower())]
                ok = False
            continue
        ok = field.validate(form) and ok
    return ok


def answers_of(form: FlaskForm, step: Step) -> dict[str, Any]:
    """The step's answers as the draft stores them: text, ISO dates, booleans, lists for groups."""
    result: dict[str, Any] = {}
    for spec in step.fields:
        if spec.compute:
            continue
        field = form[spec.id]
        if spec.is_group:
            items = []
            for entry in field.entries:
                if _item_blank(entry):
                    continue
                items.append({sub.id: _clean(sub, entry.form[sub.id].data) for sub in spec.fields})
            result[spec.id] = items
        else:
            result[spec.id] = _clean(spec, field.data)
    return result


def _clean(spec: FieldDefinition, value: Any) -> Any:
    if spec.type == "checkbox":
        return bool(value)
    if isinstance(value, str):
        value = value.strip()
        if spec.type in ("number", "decimal"):
            value = value.replace(",", ".")
        return value or None
    return value


def errors(form: FlaskForm) -> list[tuple[str, str]]:
    """Every error with the id of the input it belongs to, in page order (for the error summary)."""
    found: list[tuple[str, str]] = []
    for field in form:
        if field.type == "CSRFTokenField":
            continue
        if field.type == "FieldList":
            for message in field.errors if isinstance(field.errors, list) else []:
                if isinstance(message, str):
                    found.append((f"{field.id}-0-{next(iter(field.entries[0].form._fields))}"
                                  if field.entries else field.id, message))
            for entry in field.entries:
                for sub in entry.form:
                    found += [(sub.id, m) for m in sub.errors]
        else:
            found += [(field.id, m) for m in field.errors]
    return found


def values_as_formdata(step: Step, values: Mapping[str, Any]) -> MultiDict:
    """Stored answers shaped like a posted form, to re-check a whole draft before it is signed."""
    data: MultiDict = MultiDict()
    for spec in step.fields:
        if spec.compute:
            continue
        value = values.get(spec.id)
        if spec.is_group:
            for index, item in enumerate(value or []):
                for sub in spec.fields:
                    sub_value = item.get(sub.id)
                    if sub_value is True:
                        data.add(f"{spec.id}-{index}-{sub.id}", "y")
                    elif sub_value not in (None, False):
                        data.add(f"{spec.id}-{index}-{sub.id}", str(sub_value))
        elif value is True:
            data.add(spec.id, "y")
        elif value not in (None, False):
            data.add(spec.id, str(value))
    return data
