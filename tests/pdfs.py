"""Reading a PDF as a screen reader would: its structure tree, language and title (PDF/UA)."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf


@dataclass
class Element:
    role: str
    text: str = ""
    alt: str | None = None
    attributes: dict[str, object] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)

    def all(self, role: str) -> list[Element]:
        found = [self] if self.role == role else []
        for child in self.children:
            found += child.all(role)
        return found


@dataclass
class Accessibility:
    tagged: bool
    lang: str | None
    title: str | None
    xmp_title: str | None
    display_doc_title: bool
    pdfua_part: str | None
    ids: set[str]
    root: Element


def inspect(data: bytes, tmp_path: Path) -> Accessibility:
    """What poppler's pdfinfo says about tagging, and the structure tree as pikepdf reads it."""
    path = tmp_path / "inspected.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    with pikepdf.open(io.BytesIO(data)) as pdf:
        root = pdf.Root
        meta = pdf.open_metadata()
        preferences = root.get("/ViewerPreferences") or {}
        return Accessibility(
            tagged="Tagged:          yes" in info,
            lang=str(root.Lang) if "/Lang" in root else None,
            title=str(pdf.docinfo.get("/Title")) if "/Title" in pdf.docinfo else None,
            xmp_title=meta.get("dc:title"),
            display_doc_title=bool(preferences.get("/DisplayDocTitle", False)),
            pdfua_part=meta.get("pdfuaid:part"),
            ids=_ids(root.StructTreeRoot) if "/StructTreeRoot" in root else set(),
            root=_element(root.StructTreeRoot, _marked_text(pdf)) if "/StructTreeRoot" in root else Element("none"),
        )


def _ids(tree: pikepdf.Dictionary) -> set[str]:
    """The structure elements' IDs the ID tree resolves (a flat name tree: what the portal writes)."""
    names = tree.get("/IDTree", {}).get("/Names", [])
    return {str(names[i]) for i in range(0, len(names), 2) if str(names[i + 1].get("/ID")) == str(names[i])}


def _element(node: pikepdf.Dictionary, texts: dict[tuple[int, int], str]) -> Element:
    role = str(node.get("/S", "/StructTreeRoot")).lstrip("/")
    attributes = node.get("/A")
    element = Element(role, alt=str(node.Alt) if "/Alt" in node else None,
                      attributes={str(k).lstrip("/"): v for k, v in attributes.items()}
                      if isinstance(attributes, pikepdf.Dictionary) else {})
    page = node.get("/Pg")
    kids = node.get("/K")
    for kid in (kids if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else []):
        if isinstance(kid, pikepdf.Dictionary) and "/MCID" in kid:  # a marked-content reference
            element.text += texts.get((kid.get("/Pg", page).objgen[0], int(kid.MCID)), "")
        elif isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
            child = _element(kid, texts)
            element.children.append(child)
            element.text += child.text
        elif isinstance(kid, int) and page is not None:
            element.text += texts.get((page.objgen[0], int(kid)), "")
    return element


def _marked_text(pdf: pikepdf.Pdf) -> dict[tuple[int, int], str]:
    """The text each marked-content sequence shows, by (page object, MCID), decoded with the fonts' ToUnicode."""
    texts: dict[tuple[int, int], str] = {}
    for page in pdf.pages:
        fonts = {name: _cmap(font) for name, font in (page.Resources.get("/Font") or {}).items()}
        stack: list[int | None] = []
        current: dict[str, str] = {}
        for operands, operator in pikepdf.parse_content_stream(page):
            op = str(operator)
            if op in ("BDC", "BMC"):
                mcid = operands[1].get("/MCID") if op == "BDC" and isinstance(operands[1], pikepdf.Dictionary) else None
                stack.append(int(mcid) if mcid is not None else None)
            elif op == "EMC" and stack:
                stack.pop()
            elif op == "Tf":
                current = fonts.get(str(operands[0]), {})
            elif op in ("Tj", "TJ") and stack and stack[-1] is not None:
                pieces = operands[0] if op == "TJ" else [operands[0]]
                raw = b"".join(bytes(piece) for piece in pieces if isinstance(piece, pikepdf.String))
                key = (page.obj.objgen[0], stack[-1])
                texts[key] = texts.get(key, "") + "".join(current.get(raw[i:i + 2].hex(), "")
                                                          for i in range(0, len(raw), 2))
    return texts


def _cmap(font: pikepdf.Dictionary) -> dict[str, str]:
    """A two-byte font's ToUnicode map (WeasyPrint writes bfchar entries)."""
    if "/ToUnicode" not in font:
        return {}
    mapping: dict[str, str] = {}
    lines = font.ToUnicode.read_bytes().decode("latin-1").splitlines()
    inside = False
    for line in lines:
        if line.endswith("beginbfchar"):
            inside = True
        elif line.endswith("endbfchar"):
            inside = False
        elif inside and line.startswith("<"):
            code, _, unicode = line.partition(" ")
            mapping[code.strip("<>").lower()] = bytes.fromhex(unicode.strip().strip("<>")).decode("utf-16-be")
    return mapping
