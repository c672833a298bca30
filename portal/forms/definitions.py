"""E-service definitions: one folder per service, read and checked before anything is offered.

A folder holds `usluga.yaml` (the definition) and the XSD it names. Reading a folder
either gives a `ServiceDefinition` whose every field maps onto the schema, or raises
`DefinitionError` naming the file, the field and the fault, so that an office's
administrator can mend it without a programmer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portal.forms import schemas

DEFINITION_FILE = "usluga.yaml"
LANGUAGES = ("pl", "en")
FIELD_TYPES = {"text", "textarea", "choice", "date", "email", "postcode"}
SIGNATURES = {"trusted_profile", "qualified", "either", "none"}
PROCEDURES = {"immediate", "kpa-1m", "kpa-2m", "certificate-7d", "foi-14d", "complaint-1m", "notification"}


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
class Field:
    id: str
    type: str
    label: Text
    xml: str
    required: bool = False
    hint: Text | None = None
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()
    prefill: str | None = None


@dataclass(frozen=True)
class Step:
    id: str
    title: Text
    fields: tuple[Field, ...]


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
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def fields(self) -> list[Field]:
        return [f for step in self.steps for f in step.fields]

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


def _text(file: Path, where: str, value: Any, *, optional: bool = False) -> Text | None:
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise DefinitionError(file, where, "expected a text in both languages (keys pl and en)")
    for lang in LANGUAGES:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise DefinitionError(file, where, f"the {lang!r} text is missing")
    return {lang: value[lang].strip() for lang in LANGUAGES}


def _required(file: Path, data: dict[str, Any], key: str, where: str = "") -> Any:
    if key not in data or data[key] in (None, ""):
        raise DefinitionError(file, where or key, "is required")
    return data[key]


def _field(file: Path, step_id: str, raw: Any) -> Field:
    if not isinstance(raw, dict):
        raise DefinitionError(file, f"steps.{step_id}", "each field must be a mapping")
    fid = str(_required(file, raw, "id", f"steps.{step_id}.fields"))
    where = f"field {fid!r}"
    ftype = str(_required(file, raw, "type", where))
    if ftype not in FIELD_TYPES:
        raise DefinitionError(file, where, f"unknown type {ftype!r}; use one of {', '.join(sorted(FIELD_TYPES))}")
    choices: tuple[Choice, ...] = ()
    if ftype == "choice":
        raw_choices = raw.get("choices") or []
        if not raw_choices:
            raise DefinitionError(file, where, "a choice field needs choices")
        choices = tuple(
            Choice(str(c["value"]), _text(file, f"{where} choice {c.get('value')!r}", c.get("label")))  # type: ignore[arg-type]
            for c in raw_choices
        )
    max_length = raw.get("max_length")
    return Field(
        id=fid,
        type=ftype,
        label=_text(file, f"{where} label", raw.get("label")),  # type: ignore[arg-type]
        hint=_text(file, f"{where} hint", raw.get("hint"), optional=True),
        xml=str(_required(file, raw, "xml", where)),
        required=bool(raw.get("required", False)),
        max_length=int(max_length) if max_length is not None else None,
        choices=choices,
        prefill=raw.get("prefill"),
    )


def parse(file: Path, data: Any) -> ServiceDefinition:
    """Turn the YAML mapping into a definition, checking its own shape (not yet the schema)."""
    if not isinstance(data, dict):
        raise DefinitionError(file, "top level", "the definition must be a mapping")
    schema = _required(file, data, "schema")
    steps = []
    seen: set[str] = set()
    for raw_step in _required(file, data, "steps"):
        step_id = str(_required(file, raw_step, "id", "steps"))
        fields = tuple(_field(file, step_id, f) for f in _required(file, raw_step, "fields", f"step {step_id!r}"))
        for f in fields:
            if f.id in seen:
                raise DefinitionError(file, f"field {f.id!r}", "the same field id is used twice")
            seen.add(f.id)
        steps.append(Step(step_id, _text(file, f"step {step_id!r} title", raw_step.get("title")), fields))  # type: ignore[arg-type]
    signature = str(_required(file, data, "signature"))
    if signature not in SIGNATURES:
        raise DefinitionError(file, "signature", f"use one of {', '.join(sorted(SIGNATURES))}")
    procedure = str(_required(file, data, "procedure"))
    if procedure not in PROCEDURES and not (procedure.startswith("days-") and procedure[5:].isdigit()):
        raise DefinitionError(file, "procedure", f"unknown procedure type {procedure!r}")
    jrwa = _required(file, data, "jrwa")
    return ServiceDefinition(
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
        raw=data,
    )


@dataclass(frozen=True)
class LoadedService:
    definition: ServiceDefinition
    xsd_text: str
    folder: Path


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
        schema = schemas.compile_schema(xsd_text)
    except schemas.SchemaError as exc:
        raise DefinitionError(xsd_file, "schema", str(exc)) from exc
    check_mapping(file, definition, schema)
    return LoadedService(definition, xsd_text, folder)


def check_mapping(file: Path, definition: ServiceDefinition, schema: schemas.Schema) -> None:
    """Every field lands on an element or attribute the XSD has; every required one is covered."""
    try:
        content = schemas.content_element(schema, definition.namespace, definition.root)
    except schemas.SchemaError as exc:
        raise DefinitionError(file, "schema", str(exc)) from exc
    mapped: set[schemas.Path] = set()
    for f in definition.fields:
        try:
            target = schemas.resolve_path(content, f.xml, definition.namespace)
        except schemas.SchemaError as exc:
            raise DefinitionError(file, f"field {f.id!r} xml", str(exc)) from exc
        if f.type == "choice":
            allowed = schemas.enumeration(target)
            missing = [c.value for c in f.choices if allowed is not None and c.value not in allowed]
            if missing:
                raise DefinitionError(file, f"field {f.id!r}", f"choices {missing} are not allowed by the schema")
        mapped.add(schemas.normalise_path(f.xml, definition.namespace))
    for path in schemas.required_leaves(content):
        if path not in mapped:
            raise DefinitionError(
                file, "mapping", f"the schema requires {schemas.readable(path)!r} but no field fills it"
            )


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
