"""XML schemas of e-services: compiled offline with xmlschema, and read as a component model.

The shared CRWDE schemas are vendored in `crwde/`; an import of their official URL is
mapped onto the local copy, and nothing is ever fetched from the network.
"""

from __future__ import annotations

import pathlib
import posixpath
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import xmlschema
from lxml import etree
from xmlschema.validators import XsdAttribute, XsdElement
from xmlschema.validators.exceptions import XMLSchemaImportWarning

CRWDE_DIR = Path(__file__).parent / "crwde"

NAMESPACES = {
    "str": "http://crd.gov.pl/xml/schematy/struktura/2009/11/16/",
    "meta": "http://crd.gov.pl/xml/schematy/meta/2009/11/16/",
    "oso": "http://crd.gov.pl/xml/schematy/osoba/2009/11/16/",
    "inst": "http://crd.gov.pl/xml/schematy/instytucja/2009/11/16/",
    "adr": "http://crd.gov.pl/xml/schematy/adres/2009/11/09/",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}

_VENDORED = {
    f"{NAMESPACES['str']}struktura.xsd": "struktura.xsd",
    f"{NAMESPACES['meta']}meta.xsd": "meta.xsd",
    f"{NAMESPACES['oso']}osoba.xsd": "osoba.xsd",
    f"{NAMESPACES['inst']}instytucja.xsd": "instytucja.xsd",
    f"{NAMESPACES['adr']}adres.xsd": "adres.xsd",
}

CONTENT_ELEMENT = "TrescDokumentu"

Schema = xmlschema.XMLSchema


class SchemaError(ValueError):
    pass


def _map_uri(uri: str) -> str:
    local = _VENDORED.get(uri)
    if local is not None:
        return (CRWDE_DIR / local).as_uri()
    return uri


def compile_schema(xsd_text: str, files: Mapping[str, str] | None = None) -> Schema:
    """Compile a service XSD; its imports of CRWDE schemas resolve to the vendored copies.

    `files` are the other schemas it imports or includes, by the path its schemaLocation gives relative to
    the XSD itself ("typy.xsd", "wspolne/adres.xsd"): they are laid out beside it in a private folder, and
    nothing outside that folder (or the network) may be read while compiling."""
    if files:
        return _compile_with_files(xsd_text, files)
    try:
        with warnings.catch_warnings():
            # A failed import (e.g. of a remote schema, which is blocked) must stop the load,
            # not leave a half-built schema behind a warning.
            warnings.simplefilter("error", XMLSchemaImportWarning)
            return xmlschema.XMLSchema(
                xsd_text,
                base_url=str(CRWDE_DIR),
                uri_mapper=_map_uri,
                allow="local",
                defuse="always",
            )
    except (xmlschema.XMLSchemaException, XMLSchemaImportWarning, OSError) as exc:
        raise SchemaError(f"the schema does not compile: {exc}") from exc


MAIN_FILE = "schemat.xsd"


def safe_relative(name: str) -> PurePosixPath:
    """A schema file's name as a path inside the service's folder, or SchemaError (no `..`, nothing absolute)."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or ".." in path.parts or any(p in ("", ".") for p in path.parts) \
            or path.suffix.lower() != ".xsd":
        raise SchemaError(f"{name!r} is not a schema file name inside the service's folder")
    return path


_XS = "{http://www.w3.org/2001/XMLSchema}"
_REFERENCES = (f"{_XS}import", f"{_XS}include", f"{_XS}redefine", f"{_XS}override")


def _references(text: str, where: str) -> list[str]:
    """The schemaLocation of every import, include, redefine and override in one schema text."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise SchemaError(f"{where} is not well-formed XML: {exc}") from exc
    return [str(e.get("schemaLocation")) for e in root.iter(*_REFERENCES) if e.get("schemaLocation")]


def unresolved_imports(xsd_text: str, files: Mapping[str, str] | None = None) -> list[str]:
    """What the schema (and the files beside it) refer to that is neither vendored nor among `files`: the
    local copies an administrator still has to upload. Nothing is ever fetched to fill the gap."""
    files = {str(safe_relative(name)): text for name, text in (files or {}).items()}
    missing: list[str] = []
    todo = [(PurePosixPath(MAIN_FILE), xsd_text)] + [(PurePosixPath(n), t) for n, t in files.items()]
    for path, text in todo:
        for location in _references(text, str(path)):
            if location in _VENDORED or location.startswith(str(CRWDE_DIR)):
                continue
            if "://" in location or location.startswith("/"):
                missing.append(location)
                continue
            resolved = posixpath.normpath(str(path.parent / location))
            if resolved not in files and resolved != MAIN_FILE and location not in missing:
                missing.append(location if path.parent == PurePosixPath(".") else resolved)
    return list(dict.fromkeys(missing))


def _compile_with_files(xsd_text: str, files: Mapping[str, str]) -> Schema:
    """The schema compiled from a private folder holding it and its imports. Every reference is checked
    first to land on one of those files or a vendored CRWDE schema, so nothing else is read."""
    missing = unresolved_imports(xsd_text, files)
    if missing:
        raise SchemaError(f"the schema imports {', '.join(missing)}: upload a local copy (nothing is fetched)")
    with tempfile.TemporaryDirectory(prefix="okienko-xsd-") as tmp:
        folder = pathlib.Path(tmp)  # (this module's `Path` is a schema path, below)
        for name, text in files.items():
            target = folder / safe_relative(name)
            if str(safe_relative(name)) == MAIN_FILE:
                raise SchemaError(f"{name!r} is the service's own schema's name")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        main = folder / MAIN_FILE
        main.write_text(xsd_text, encoding="utf-8")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", XMLSchemaImportWarning)
                return xmlschema.XMLSchema(str(main), uri_mapper=_map_uri, allow="local", defuse="always")
        except (xmlschema.XMLSchemaException, XMLSchemaImportWarning, OSError) as exc:
            raise SchemaError(f"the schema does not compile: {str(exc).replace(tmp + '/', '')}") from exc


FilesKey = tuple[tuple[str, str], ...]


def files_key(files: Mapping[str, str] | None) -> FilesKey:
    """The imported schemas as a hashable key for `cached_schema`."""
    return tuple(sorted((files or {}).items()))


@lru_cache(maxsize=256)
def cached_schema(xsd_text: str, files: FilesKey = ()) -> Schema:
    """Compiling takes tens of milliseconds: one compiled schema per distinct text per process."""
    return compile_schema(xsd_text, dict(files))


def qname(name: str, default_ns: str) -> str:
    prefix, sep, local = name.partition(":")
    if not sep:
        return f"{{{default_ns}}}{name}"
    if prefix not in NAMESPACES:
        raise SchemaError(f"unknown prefix {prefix!r} in {name!r}")
    return f"{{{NAMESPACES[prefix]}}}{local}"


Path = tuple[str, ...]


def normalise_path(path: str, default_ns: str) -> Path:
    """A field's `xml` path as a tuple of qualified names (namespace URIs contain slashes)."""
    return tuple(part if part.startswith("@") else qname(part, default_ns) for part in path.strip("/").split("/"))


def readable(path: Path) -> str:
    return "/".join(p.rpartition("}")[2] for p in path)


def content_element(schema: Schema, namespace: str, root: str) -> XsdElement:
    """The element holding the form's own fields (`TrescDokumentu` in CRWDE forms)."""
    root_el = schema.elements.get(root)
    if root_el is None or schema.target_namespace != namespace:
        raise SchemaError(f"the schema has no root element {root!r} in namespace {namespace}")
    for child in child_elements(root_el):
        if child.name == f"{{{namespace}}}{CONTENT_ELEMENT}":
            return child
    raise SchemaError(f"{root!r} has no {CONTENT_ELEMENT!r} element")


def child_elements(element: XsdElement) -> list[XsdElement]:
    """Child elements in the order the schema declares them."""
    xsd_type = element.type
    if xsd_type.is_simple() or xsd_type.has_simple_content() or xsd_type.content is None:
        return []
    return [e for e in xsd_type.content.iter_elements() if isinstance(e, XsdElement)]


def attributes(element: XsdElement) -> dict[str, XsdAttribute]:
    attrs = getattr(element.type, "attributes", None)
    if not attrs:
        return {}
    return {name: a for name, a in attrs.items() if name is not None}


def resolve_element(content: XsdElement, path: str, namespace: str) -> XsdElement:
    """Follow a path of elements (a group's repeating element, the attachments' container)."""
    current = content
    for part in path.strip("/").split("/"):
        name = qname(part, namespace)
        match = next((c for c in child_elements(current) if c.name == name), None)
        if match is None:
            raise SchemaError(f"{current.local_name!r} has no child element {part!r}")
        current = match
    return current


def ancestors_required(content: XsdElement, path: str, namespace: str) -> bool:
    """Whether every element above the last one on the path must be present (an optional container
    makes what it holds optional too)."""
    current = content
    for part in path.strip("/").split("/")[:-1]:
        current = next(c for c in child_elements(current) if c.name == qname(part, namespace))
        if current.min_occurs < 1:
            return False
    return True


def primitive(component: XsdElement | XsdAttribute) -> str:
    """The XSD primitive a value ends up as: string, decimal, date, boolean …"""
    xsd_type = component.type
    if not xsd_type.is_simple():
        xsd_type = xsd_type.content  # simple content of a complex type
    found = getattr(xsd_type, "primitive_type", None)
    if found is None and getattr(xsd_type, "base_type", None) is not None:
        found = getattr(xsd_type.base_type, "primitive_type", None)
    return str(found.local_name) if found is not None else "string"


def is_integer(component: XsdElement | XsdAttribute) -> bool:
    xsd_type = component.type
    while xsd_type is not None:
        if getattr(xsd_type, "local_name", None) in {"integer", "int", "long", "short", "nonNegativeInteger",
                                                      "positiveInteger"}:
            return True
        xsd_type = getattr(xsd_type, "base_type", None)
    return False


def facets(component: XsdElement | XsdAttribute) -> dict[str, Any]:
    """What the schema demands of a value, for validators that explain it to the resident."""
    xsd_type = component.type if component.type.is_simple() else component.type.content
    patterns = getattr(xsd_type, "patterns", None)
    return {
        "min_length": getattr(xsd_type, "min_length", None),
        "max_length": getattr(xsd_type, "max_length", None),
        "min_value": getattr(xsd_type, "min_value", None),
        "max_value": getattr(xsd_type, "max_value", None),
        "patterns": list(patterns.patterns) if patterns is not None else [],
        "enumeration": enumeration(component),
    }


def is_valid_value(component: XsdElement | XsdAttribute, value: str) -> bool:
    xsd_type = component.type if component.type.is_simple() else component.type.content
    return bool(xsd_type.is_valid(value))


def resolve_path(content: XsdElement, path: str, namespace: str) -> XsdElement | XsdAttribute:
    """Follow a field's `xml` path (relative to the content element) through the schema."""
    current: XsdElement = content
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part.startswith("@"):
            if i != len(parts) - 1:
                raise SchemaError(f"an attribute must end the path {path!r}")
            attr = attributes(current).get(part[1:])
            if attr is None:
                raise SchemaError(f"{current.local_name!r} has no attribute {part[1:]!r}")
            return attr
        name = qname(part, namespace)
        match = next((c for c in child_elements(current) if c.name == name), None)
        if match is None:
            raise SchemaError(f"{current.local_name!r} has no child element {part!r}")
        current = match
    if not (current.type.is_simple() or current.type.has_simple_content()):
        raise SchemaError(f"{path!r} is a structure, not a value: map its parts instead")
    return current


def enumeration(component: XsdElement | XsdAttribute) -> list[str] | None:
    values = getattr(component.type, "enumeration", None)
    return [str(v) for v in values] if values else None


def required_leaves(content: XsdElement) -> Iterator[Path]:
    """Paths of every value the schema requires inside the content element."""

    def walk(element: XsdElement, prefix: Path) -> Iterator[Path]:
        for name, attr in attributes(element).items():
            if attr.use == "required" and attr.fixed is None:
                yield (*prefix, f"@{name}")
        for child in child_elements(element):
            if child.min_occurs < 1:
                continue
            path = (*prefix, child.name)
            if child.type.is_simple() or (child.type.has_simple_content() and not attributes(child)):
                yield path
            else:
                yield from walk(child, path)

    yield from walk(content, ())


def validate(schema: Schema, tree: Any) -> list[str]:
    """Every reason the document breaks the schema, in words; empty when valid."""
    return [f"{e.path}: {e.reason}" for e in schema.iter_errors(tree)]
