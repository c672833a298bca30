"""E-service definitions: one folder per service, read and checked before anything is offered.

A folder holds `usluga.yaml` (the definition) and the XSD it names (and `styl.xsl` where
the form has one). Reading a folder either gives a `ServiceDefinition` whose every field
maps onto the schema with an agreeing type, or raises `DefinitionError` naming the file,
the field and the fault, so that an office's administrator can mend it without a programmer.
docs/catalog.md describes the format.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from portal.forms import schemas
from portal.language import LANGUAGES

DEFINITION_FILE = "usluga.yaml"
FIELD_TYPES = {"text", "textarea", "choice", "select", "checkbox", "date", "email", "postcode", "phone", "number",
               "decimal", "group"}
SIGNATURES = {"trusted_profile", "qualified", "either", "none"}
PROCEDURES = {"immediate", "kpa-1m", "kpa-2m", "certificate-7d", "foi-14d", "complaint-1m", "notification"}
CURRENCIES = ("PLN",)
ATTACHMENT_TYPES = {"application/pdf", "image/jpeg", "image/png"}
ATTACHMENTS_STEP = "zalaczniki"
# Which XSD primitive each field type may land on: a date field on an xs:string is a mistake.
PRIMITIVES = {
    "text": {"string"}, "textarea": {"string"}, "email": {"string"}, "postcode": {"string"}, "phone": {"string"},
    "choice": {"string", "decimal", "boolean"}, "select": {"string", "decimal"}, "checkbox": {"boolean"},
    "date": {"date"}, "number": {"decimal"}, "decimal": {"decimal"},
}


class DefinitionError(ValueError):
    """A definition that cannot be offered; the message names file, field and fault."""

    def __init__(self, file: Path | str, where: str, fault: str) -> None:
        self.file = str(file)
        self.where = where
        self.fault = fault
        super().__init__(f"{file}: {where}: {fault}")


Text = dict[str, str]


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text


@dataclass(frozen=True)
class Condition:
    """Shown only when another answer is one of `values` (for a checkbox: "true" or "false")."""

    field: str
    values: tuple[str, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        value = answers.get(self.field)
        if isinstance(value, bool):
            value = "true" if value else "false"
        return value is not None and str(value) in self.values


@dataclass(frozen=True)
class Field:
    id: str
    type: str
    label: Text
    xml: str
    required: bool = False
    hint: Text | None = None
    max_length: int | None = None
    min_length: int | None = None
    pattern: str | None = None
    pattern_message: Text | None = None
    min_value: float | None = None
    max_value: float | None = None
    # a date field's range: an ISO date, "today", or a distance from today ("-100y", "+2w", "today+30d")
    min_date: str | None = None
    max_date: str | None = None
    not_before: str | None = None  # a date field whose answer this one may not precede
    choices: tuple[Choice, ...] = ()
    prefill: str | None = None
    show_if: Condition | None = None
    compute: dict[str, Any] | None = None
    currency: str | None = None  # a number or decimal that is an amount of money: shown as 96,00 zł
    # a repeating group: its fields are answered once per item
    fields: tuple[Field, ...] = ()
    min_items: int = 0
    max_items: int = 20
    item_label: Text | None = None

    @property
    def is_group(self) -> bool:
        return self.type == "group"


@dataclass(frozen=True)
class AttachmentRule:
    id: str
    label: Text
    types: tuple[str, ...]
    max_mb: float
    max_count: int = 1
    required: bool = False
    hint: Text | None = None
    show_if: Condition | None = None


@dataclass(frozen=True)
class Step:
    id: str
    title: Text
    fields: tuple[Field, ...]
    show_if: Condition | None = None
    hint: Text | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    version: str
    namespace: str
    root: str
    document_name: str
    title: Text
    description: Text
    who_may_file: Text
    legal_basis: Text
    procedure: str
    fee: Text
    prepare: Text
    signature: str
    unit: str
    jrwa_class: str
    archival_category: str
    steps: tuple[Step, ...]
    attachments: tuple[AttachmentRule, ...] = ()
    attachments_xml: str = "str:Zalaczniki"
    stylesheet: str | None = None
    loa: str | None = None  # the eIDAS level of assurance the resident's login must have
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def fields(self) -> list[Field]:
        return [f for step in self.steps for f in step.fields]

    def field(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    @property
    def step_ids(self) -> list[str]:
        """Every step a resident may pass through, the attachments step last when there is one."""
        return [s.id for s in self.steps] + ([ATTACHMENTS_STEP] if self.attachments else [])


def _text(file: Path, where: str, value: Any, *, optional: bool = False) -> Text | None:
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise DefinitionError(file, where, "expected a text in both languages (keys pl and en)")
    extra = [k for k in value if k not in LANGUAGES]
    if extra:
        # Typically an unquoted comma in a YAML flow mapping: {pl: Tak, to prawda, en: …}
        raise DefinitionError(file, where, f"unexpected keys {extra}: quote texts that contain commas")
    for lang in LANGUAGES:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise DefinitionError(file, where, f"the {lang!r} text is missing")
    return {lang: value[lang].strip() for lang in LANGUAGES}


def _required(file: Path, data: dict[str, Any], key: str, where: str = "") -> Any:
    if not isinstance(data, dict) or key not in data or data[key] in (None, ""):
        raise DefinitionError(file, where or key, "is required")
    return data[key]


def _condition(file: Path, where: str, raw: Any) -> Condition | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "field" not in raw or ("equals" not in raw and "in" not in raw):
        raise DefinitionError(file, f"{where} show_if", "needs `field` and `equals` (or `in`)")
    values = raw["in"] if "in" in raw else [raw["equals"]]
    return Condition(str(raw["field"]), tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values))


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


_RELATIVE = re.compile(r"(?:today)?([+-])(\d{1,4})([dwmy])")
DATE_LIMIT_HELP = "use a date (2013-07-01), today, or a distance from today such as -100y, +2w, +30d"


def resolve_date(limit: str, today: date) -> date:
    """The day a date limit names, counted from `today`; a month or year later than a day the month lacks
    (31 January + 1m, 29 February + 1y) is that month's last day."""
    if limit == "today":
        return today
    relative = _RELATIVE.fullmatch(limit)
    if relative is None:
        return date.fromisoformat(limit)
    sign, amount, unit = relative[1], int(relative[2]), relative[3]
    step = amount if sign == "+" else -amount
    if unit in "dw":
        return today + timedelta(days=step * (7 if unit == "w" else 1))
    months = today.year * 12 + today.month - 1 + step * (12 if unit == "y" else 1)
    year, month = divmod(months, 12)
    return date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def _is_absolute(limit: str) -> bool:
    return limit != "today" and _RELATIVE.fullmatch(limit) is None


def _date_limit(file: Path, where: str, raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, date):  # an unquoted 2013-07-01 in YAML is already a date
        return raw.isoformat()
    limit = str(raw).strip()
    try:
        resolve_date(limit, date(2000, 1, 1))
    except (ValueError, OverflowError):
        raise DefinitionError(file, where, f"date limit {raw!r} cannot be read: {DATE_LIMIT_HELP}") from None
    return limit


def _date_limits(file: Path, where: str, raw: dict[str, Any]) -> tuple[str | None, str | None]:
    low, high = _date_limit(file, where, raw.get("min")), _date_limit(file, where, raw.get("max"))
    if low and high and _is_absolute(low) == _is_absolute(high):
        # Relative limits keep their distance whatever the day: compare them on a few. (An absolute limit and
        # a relative one pass each other some day; that is the office's to choose.)
        for today in (date(2000, 1, 31), date(2000, 2, 29)):
            if resolve_date(low, today) > resolve_date(high, today):
                raise DefinitionError(file, where, f"min comes after max ({low} > {high})")
    return low, high


def _field(file: Path, parent: str, raw: Any) -> Field:
    if not isinstance(raw, dict):
        raise DefinitionError(file, parent, "each field must be a mapping")
    fid = str(_required(file, raw, "id", f"{parent}.fields"))
    where = f"field {fid!r}"
    ftype = str(_required(file, raw, "type", where))
    if ftype not in FIELD_TYPES:
        raise DefinitionError(file, where, f"unknown type {ftype!r}; use one of {', '.join(sorted(FIELD_TYPES))}")
    choices: tuple[Choice, ...] = ()
    if ftype in ("choice", "select"):
        raw_choices = raw.get("choices") or []
        if not raw_choices:
            raise DefinitionError(file, where, "a choice field needs choices")
        choices = tuple(
            Choice(str(c["value"]), _text(file, f"{where} choice {c.get('value')!r}", c.get("label")))  # type: ignore[arg-type]
            for c in raw_choices
        )
    subfields: tuple[Field, ...] = ()
    if ftype == "group":
        subfields = tuple(_field(file, where, f) for f in _required(file, raw, "fields", where))
        if any(f.is_group for f in subfields):
            raise DefinitionError(file, where, "groups cannot be nested")
    currency = raw.get("currency")
    if currency is not None and (currency not in CURRENCIES or ftype not in ("number", "decimal")):
        raise DefinitionError(file, where,
                              f"currency is for number and decimal fields, one of {', '.join(CURRENCIES)}")
    min_date = max_date = None
    if ftype == "date":
        min_date, max_date = _date_limits(file, where, raw)
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DefinitionError(file, f"{where} pattern", f"not a regular expression: {exc}") from exc
    return Field(
        id=fid,
        type=ftype,
        label=_text(file, f"{where} label", raw.get("label")),  # type: ignore[arg-type]
        hint=_text(file, f"{where} hint", raw.get("hint"), optional=True),
        xml=str(_required(file, raw, "xml", where)),
        required=bool(raw.get("required", False)),
        max_length=int(raw["max_length"]) if raw.get("max_length") is not None else None,
        min_length=int(raw["min_length"]) if raw.get("min_length") is not None else None,
        pattern=pattern,
        pattern_message=_text(file, f"{where} pattern_message", raw.get("pattern_message"), optional=True),
        min_value=None if ftype == "date" else _number(raw.get("min")),
        max_value=None if ftype == "date" else _number(raw.get("max")),
        min_date=min_date,
        max_date=max_date,
        not_before=raw.get("not_before"),
        choices=choices,
        prefill=raw.get("prefill"),
        show_if=_condition(file, where, raw.get("show_if")),
        compute=raw.get("compute"),
        currency=currency,
        fields=subfields,
        min_items=int(raw.get("min_items", 1 if raw.get("required") else 0)),
        max_items=int(raw.get("max_items", 20)),
        item_label=_text(file, f"{where} item_label", raw.get("item_label"), optional=True),
    )


def _attachment(file: Path, raw: Any) -> AttachmentRule:
    aid = str(_required(file, raw, "id", "attachments"))
    where = f"attachment {aid!r}"
    types = tuple(str(t) for t in _required(file, raw, "types", where))
    unknown = [t for t in types if t not in ATTACHMENT_TYPES]
    if unknown:
        accepted = ", ".join(sorted(ATTACHMENT_TYPES))
        raise DefinitionError(file, where, f"types {unknown} are not accepted; use {accepted}")
    return AttachmentRule(
        id=aid,
        label=_text(file, f"{where} label", raw.get("label")),  # type: ignore[arg-type]
        hint=_text(file, f"{where} hint", raw.get("hint"), optional=True),
        types=types,
        max_mb=float(raw.get("max_mb", 5)),
        max_count=int(raw.get("max_count", 1)),
        required=bool(raw.get("required", False)),
        show_if=_condition(file, where, raw.get("show_if")),
    )


def _unfinished(data: Any, where: str = "") -> str | None:
    """Where a drafted definition still says TODO (see `okienko catalog import`)."""
    if isinstance(data, str):
        return where if data.strip() == "TODO" else None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        found = _unfinished(value, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def parse(file: Path, data: Any) -> ServiceDefinition:
    """Turn the YAML mapping into a definition, checking its own shape (not yet the schema)."""
    if not isinstance(data, dict):
        raise DefinitionError(file, "top level", "the definition must be a mapping")
    todo = _unfinished(data)
    if todo:
        raise DefinitionError(file, todo, "still says TODO: fill it in before loading")
    schema = _required(file, data, "schema")
    steps = []
    seen: set[str] = set()
    for raw_step in _required(file, data, "steps"):
        step_id = str(_required(file, raw_step, "id", "steps"))
        if step_id == ATTACHMENTS_STEP:
            raise DefinitionError(file, f"step {step_id!r}", "this step id is reserved for attachments")
        fields = tuple(_field(file, f"step {step_id!r}", f) for f in _required(file, raw_step, "fields",
                                                                               f"step {step_id!r}"))
        for f in fields:
            if f.id in seen:
                raise DefinitionError(file, f"field {f.id!r}", "the same field id is used twice")
            seen.add(f.id)
        steps.append(Step(step_id, _text(file, f"step {step_id!r} title", raw_step.get("title")),  # type: ignore[arg-type]
                          fields, _condition(file, f"step {step_id!r}", raw_step.get("show_if")),
                          _text(file, f"step {step_id!r} hint", raw_step.get("hint"), optional=True)))
    signature = str(_required(file, data, "signature"))
    if signature not in SIGNATURES:
        raise DefinitionError(file, "signature", f"use one of {', '.join(sorted(SIGNATURES))}")
    procedure = str(_required(file, data, "procedure"))
    if procedure not in PROCEDURES and not (procedure.startswith("days-") and procedure[5:].isdigit()):
        raise DefinitionError(file, "procedure", f"unknown procedure type {procedure!r}")
    jrwa = _required(file, data, "jrwa")
    loa = data.get("loa")
    if loa is not None and loa not in ("low", "substantial", "high"):
        raise DefinitionError(file, "loa", "use low, substantial or high")
    attachments = tuple(_attachment(file, a) for a in data.get("attachments") or [])
    definition = ServiceDefinition(
        id=str(_required(file, data, "id")),
        version=str(_required(file, data, "version")),
        namespace=str(_required(file, schema, "namespace", "schema.namespace")),
        root=str(schema.get("root", "Dokument")),
        document_name=str(_required(file, schema, "document_name", "schema.document_name")),
        title=_text(file, "title", data.get("title")),  # type: ignore[arg-type]
        description=_text(file, "description", data.get("description")),  # type: ignore[arg-type]
        who_may_file=_text(file, "who_may_file", data.get("who_may_file")),  # type: ignore[arg-type]
        legal_basis=_text(file, "legal_basis", data.get("legal_basis")),  # type: ignore[arg-type]
        procedure=procedure,
        fee=_text(file, "fee", data.get("fee")),  # type: ignore[arg-type]
        prepare=_text(file, "prepare", data.get("prepare")),  # type: ignore[arg-type]
        signature=signature,
        unit=str(_required(file, data, "unit")),
        jrwa_class=str(_required(file, jrwa, "class", "jrwa.class")),
        archival_category=str(_required(file, jrwa, "archival_category", "jrwa.archival_category")),
        steps=tuple(steps),
        attachments=attachments,
        attachments_xml=str(schema.get("attachments", "str:Zalaczniki")),
        stylesheet=schema.get("stylesheet"),
        loa=loa,
        raw=data,
    )
    _check_references(file, definition)
    return definition


def _check_references(file: Path, definition: ServiceDefinition) -> None:
    """Conditions and date limits must name fields that exist and come no later than they are used."""
    order = {f.id: i for i, f in enumerate(definition.fields)}
    step_of = {f.id: s.id for s in definition.steps for f in s.fields}
    for index, step in enumerate(definition.steps):
        if step.show_if and (step.show_if.field not in order or definition.step_ids.index(step_of[step.show_if.field])
                             >= index):
            raise DefinitionError(file, f"step {step.id!r} show_if", f"{step.show_if.field!r} is not asked earlier")
    for f in definition.fields:
        for ref, what in ((f.show_if.field if f.show_if else None, "show_if"), (f.not_before, "not_before")):
            if ref is not None and (ref not in order or order[ref] >= order[f.id]):
                raise DefinitionError(file, f"field {f.id!r} {what}", f"{ref!r} is not a field asked before it")
    for rule in definition.attachments:
        if rule.show_if and rule.show_if.field not in order:
            raise DefinitionError(file, f"attachment {rule.id!r} show_if", f"{rule.show_if.field!r} is not a field")


@dataclass(frozen=True)
class LoadedService:
    definition: ServiceDefinition
    xsd_text: str
    folder: Path
    xsl_text: str | None = None


def read_folder(folder: Path) -> LoadedService:
    """Read one service folder and check the definition against its own schema."""
    file = folder / DEFINITION_FILE
    if not file.exists():
        raise DefinitionError(file, "folder", f"no {DEFINITION_FILE} in this folder")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DefinitionError(file, "YAML", str(exc).replace("\n", " ")) from exc
    definition = parse(file, data)
    xsd_file = folder / str(data["schema"].get("file", "schemat.xsd"))
    if not xsd_file.exists():
        raise DefinitionError(file, "schema.file", f"{xsd_file.name} does not exist")
    xsd_text = xsd_file.read_text(encoding="utf-8")
    try:
        schema = schemas.cached_schema(xsd_text)
    except schemas.SchemaError as exc:
        raise DefinitionError(xsd_file, "schema", str(exc)) from exc
    check_mapping(file, definition, schema)
    xsl_text = None
    if definition.stylesheet:
        xsl_file = folder / definition.stylesheet
        if not xsl_file.exists():
            raise DefinitionError(file, "schema.stylesheet", f"{xsl_file.name} does not exist")
        xsl_text = xsl_file.read_text(encoding="utf-8")
    return LoadedService(definition, xsd_text, folder, xsl_text)


def _leaf_fields(definition: ServiceDefinition) -> Iterator[tuple[Field, Field | None]]:
    """Every value-carrying field, with the group it belongs to (or None)."""
    for f in definition.fields:
        if f.is_group:
            for sub in f.fields:
                yield sub, f
        else:
            yield f, None


def check_mapping(file: Path, definition: ServiceDefinition, schema: schemas.Schema) -> None:
    """Every field lands on an element or attribute of an agreeing type; every required value is asked."""
    ns = definition.namespace
    try:
        content = schemas.content_element(schema, ns, definition.root)
    except schemas.SchemaError as exc:
        raise DefinitionError(file, "schema", str(exc)) from exc
    mapped: set[schemas.Path] = set()
    required = set(schemas.required_leaves(content))
    groups: dict[str, Any] = {}
    for f in definition.fields:
        if not f.is_group:
            continue
        try:
            groups[f.id] = schemas.resolve_element(content, f.xml, ns)
        except schemas.SchemaError as exc:
            raise DefinitionError(file, f"field {f.id!r} xml", str(exc)) from exc
        if groups[f.id].max_occurs is not None and groups[f.id].max_occurs <= 1:
            raise DefinitionError(file, f"field {f.id!r} xml", f"{f.xml!r} does not repeat in the schema")
        if groups[f.id].max_occurs is not None and f.max_items > groups[f.id].max_occurs:
            raise DefinitionError(file, f"field {f.id!r}", f"max_items exceeds the schema's {groups[f.id].max_occurs}")
    for group in (f for f in definition.fields if f.is_group):
        if schemas.ancestors_required(content, group.xml, ns) and groups[group.id].min_occurs > group.min_items:
            raise DefinitionError(file, f"field {group.id!r}",
                                  f"the schema requires at least {groups[group.id].min_occurs} item(s): set min_items")
    for leaf, group in _leaf_fields(definition):
        where = f"field {leaf.id!r}"
        base = groups[group.id] if group else content
        try:
            target = schemas.resolve_path(base, leaf.xml, ns)
        except schemas.SchemaError as exc:
            raise DefinitionError(file, f"{where} xml", str(exc)) from exc
        primitive = schemas.primitive(target)
        if primitive not in PRIMITIVES[leaf.type]:
            raise DefinitionError(file, where, f"a {leaf.type} field cannot fill {leaf.xml!r}, which is "
                                               f"xs:{primitive} in the schema")
        if leaf.type == "number" and not schemas.is_integer(target):
            raise DefinitionError(file, where, f"a number field needs an integer type; {leaf.xml!r} allows fractions")
        if leaf.type in ("choice", "select"):
            allowed = schemas.enumeration(target)
            missing = [c.value for c in leaf.choices if allowed is not None and c.value not in allowed]
            if missing:
                raise DefinitionError(file, where, f"choices {missing} are not allowed by the schema")
        own = schemas.normalise_path(leaf.xml, ns)
        if group:
            mapped.add(schemas.normalise_path(group.xml, ns) + own)
            needed = own in set(schemas.required_leaves(groups[group.id]))
        else:
            mapped.add(own)
            needed = own in required
        always_answered = leaf.required or leaf.compute is not None or leaf.type == "checkbox"
        if needed and (not always_answered or leaf.show_if is not None):
            raise DefinitionError(file, where, f"the schema requires {leaf.xml!r}, so the field must be required "
                                               "and always shown")
    for path in required:
        if path not in mapped:
            raise DefinitionError(file, "mapping",
                                  f"the schema requires {schemas.readable(path)!r} but no field fills it")
    if definition.attachments:
        try:
            schemas.resolve_element(content, definition.attachments_xml, ns)
        except schemas.SchemaError as exc:
            raise DefinitionError(file, "schema.attachments", str(exc)) from exc


def read_catalog(root: Path) -> tuple[list[LoadedService], list[DefinitionError]]:
    """Read every service folder under `root`; a broken one is reported, the others still load."""
    services: list[LoadedService] = []
    errors: list[DefinitionError] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        try:
            services.append(read_folder(folder))
        except DefinitionError as exc:
            errors.append(exc)
    return services, errors
