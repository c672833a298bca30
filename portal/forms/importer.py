"""`okienko catalog import`: a first draft of a service definition, read from a CRWDE-style XSD.

The schema's component model gives most of the definition: element types become field types,
enumerations choices, patterns, lengths and ranges validators, minOccurs/maxOccurs required
questions and repeating groups, annotations hints. What a schema cannot say — titles, the legal
basis, the deadline, English labels — is left as `TODO` for the administrator, and the loader
refuses the definition until every `TODO` is replaced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from portal.forms import schemas

TODO = "TODO"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _words(name: str) -> str:
    spaced = re.sub(r"(?<=[a-ząćęłńóśźż0-9])(?=[A-ZĄĆĘŁŃÓŚŹŻ])", " ", name)
    return spaced[:1].upper() + spaced[1:].lower()


def _documentation(component: Any) -> str | None:
    annotation = getattr(component, "annotation", None)
    if annotation is None or not getattr(annotation, "documentation", None):
        return None
    text = " ".join("".join(d.itertext()) if hasattr(d, "itertext") else str(d.text or "")
                    for d in annotation.documentation)
    text = " ".join(text.split())
    return text or None


def _field(component: Any, name: str, xml: str, required: bool, used: set[str]) -> dict[str, Any]:
    field_id = _snake(name)
    while field_id in used:
        field_id += "_2"
    used.add(field_id)
    facets = schemas.facets(component)
    primitive = schemas.primitive(component)
    field: dict[str, Any] = {"id": field_id, "label": {"pl": _words(name), "en": TODO}, "xml": xml}
    if facets["enumeration"]:
        field["type"] = "choice" if len(facets["enumeration"]) <= 6 else "select"
        field["choices"] = [{"value": v, "label": {"pl": v[:1].upper() + v[1:], "en": TODO}}
                            for v in facets["enumeration"]]
    elif primitive == "date":
        field["type"] = "date"
    elif primitive == "boolean":
        field["type"] = "checkbox"
    elif primitive == "decimal":
        field["type"] = "number" if schemas.is_integer(component) else "decimal"
        if facets["min_value"] is not None:
            field["min"] = float(facets["min_value"]) if field["type"] == "decimal" else int(facets["min_value"])
        if facets["max_value"] is not None:
            field["max"] = float(facets["max_value"]) if field["type"] == "decimal" else int(facets["max_value"])
    else:
        long_text = not facets["patterns"] and (facets["max_length"] is None or facets["max_length"] > 500)
        field["type"] = "textarea" if long_text else "text"
        if facets["max_length"] is not None:
            field["max_length"] = int(facets["max_length"])
        if facets["min_length"] and facets["min_length"] > 1:
            field["min_length"] = int(facets["min_length"])
        if facets["patterns"]:
            field["pattern"] = _python_pattern(facets["patterns"][0].pattern)
            field["pattern_message"] = {"pl": TODO, "en": TODO}
    if required:
        field["required"] = True
    hint = _documentation(component) or _documentation(component.type)
    if hint:
        field["hint"] = {"pl": hint, "en": TODO}
    return field


def _python_pattern(compiled: str) -> str:
    """xmlschema anchors its translated patterns; the definition's `pattern` is matched in full anyway."""
    return compiled.removeprefix("^(?:").removesuffix(")$(?!\\n\\Z)")


def _fields(element: Any, prefix: str, required: bool, ns: str, used: set[str]) -> list[dict[str, Any]]:
    """The fields for everything inside `element`, with paths relative to the content element."""
    found: list[dict[str, Any]] = []
    for name, attribute in schemas.attributes(element).items():
        if attribute.fixed is not None:
            continue
        found.append(_field(attribute, _words(name).replace(" ", ""), f"{prefix}@{name}",
                            required and attribute.use == "required", used))
    for child in schemas.child_elements(element):
        found += _child_fields(child, prefix, required, ns, used)
    return found


def _child_fields(child: Any, prefix: str, required: bool, ns: str, used: set[str]) -> list[dict[str, Any]]:
    if child.name is None or not child.name.startswith(f"{{{ns}}}"):
        return []  # shared CRWDE structures (attachments …) and the signature are the portal's own business
    local = child.local_name
    child_required = required and child.min_occurs >= 1
    is_leaf = child.type.is_simple() or (child.type.has_simple_content() and not schemas.attributes(child))
    repeats = child.max_occurs is None or child.max_occurs > 1
    if repeats and not is_leaf:
        group_id = _snake(local) + "_lista"
        used.add(group_id)
        return [{
            "id": group_id, "type": "group", "label": {"pl": _words(local), "en": TODO},
            "item_label": {"pl": _words(local), "en": TODO}, "xml": f"{prefix}{local}",
            **({"required": True, "min_items": int(child.min_occurs)} if child_required else {}),
            **({"max_items": int(child.max_occurs)} if child.max_occurs else {}),
            "fields": _fields(child, "", True, ns, set()),
        }]
    if is_leaf:
        return [_field(child, local, f"{prefix}{local}", child_required, used)]
    return _fields(child, f"{prefix}{local}/", child_required, ns, used)


def draft_definition(xsd_path: Path, service_id: str | None = None) -> dict[str, Any]:
    """A definition to edit: everything the schema knows, TODO where a person must decide."""
    schema = schemas.compile_schema(xsd_path.read_text(encoding="utf-8"))
    namespace = schema.target_namespace
    root = next(iter(schema.elements))
    content = schemas.content_element(schema, namespace, root)
    steps: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    used: set[str] = set()
    for child in schemas.child_elements(content):
        if child.name is None or not child.name.startswith(f"{{{namespace}}}"):
            continue
        is_leaf = child.type.is_simple() or (child.type.has_simple_content() and not schemas.attributes(child))
        repeats = child.max_occurs is None or child.max_occurs > 1
        if is_leaf or repeats:
            loose += _child_fields(child, "", True, namespace, used)
        else:
            steps.append({"id": _snake(child.local_name), "title": {"pl": _words(child.local_name), "en": TODO},
                          "fields": _fields(child, f"{child.local_name}/", child.min_occurs >= 1, namespace, used)})
    if loose:
        steps.insert(0, {"id": "wniosek", "title": {"pl": "Wniosek", "en": TODO}, "fields": loose})
    return {
        "id": service_id or xsd_path.parent.name,
        "version": "0.1.0",
        "schema": {"file": xsd_path.name, "namespace": namespace, "root": root, "document_name": TODO},
        "title": {"pl": TODO, "en": TODO},
        "description": {"pl": TODO, "en": TODO},
        "who_may_file": {"pl": TODO, "en": TODO},
        "legal_basis": {"pl": TODO, "en": TODO},
        "procedure": "kpa-1m",
        "fee": {"pl": TODO, "en": TODO},
        "prepare": {"pl": TODO, "en": TODO},
        "signature": "either",
        "unit": TODO,
        "jrwa": {"class": TODO, "archival_category": TODO},
        "steps": steps,
    }


def render(definition: dict[str, Any]) -> str:
    header = ("# Drafted by `okienko catalog import` from the service's XSD.\n"
              "# Replace every TODO (titles, English labels, legal basis, fee, unit, JRWA class), check the\n"
              "# procedure type and the questions' order, then run `okienko catalog load`.\n")
    return header + yaml.safe_dump(definition, allow_unicode=True, sort_keys=False, width=110)
