from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from portal.forms import definitions, document, schemas

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
WNIO = "http://crd.gov.pl/wzor/2013/12/12/1410/"


@pytest.fixture(scope="module")
def letter() -> definitions.LoadedService:
    return definitions.read_folder(CATALOG / "pismo-ogolne")


def build(letter: definitions.LoadedService, values: dict[str, str]) -> bytes:
    return document.build(
        letter.definition, schemas.compile_schema(letter.xsd_text), values,
        document.Sender("Zofia", "Łęcka-Żółtowska", "01230804662",
                        {"locality": "Leszno", "postal_code": "64-100", "street": "ul. Święciechowska",
                         "building": "7"}),
        document.Addressee("Urząd Miasta Leszna", "ul. Kazimierza Karasia", "15", "64-100", "Leszno"),
        "draft-1", date(2026, 11, 25),
    )


def test_general_letter_is_a_valid_crwde_document(letter: definitions.LoadedService) -> None:
    xml = build(letter, {"rodzaj": "skarga", "tytul": "Hałas nocą", "tresc": "Treść\nw dwóch liniach",
                         "miejscowosc": "Leszno"})
    root = etree.fromstring(xml)
    ns = {"wnio": WNIO, **schemas.NAMESPACES}
    assert root.tag == f"{{{WNIO}}}Dokument"
    assert root.findtext("wnio:TrescDokumentu/wnio:Tytul", namespaces=ns) == "Hałas nocą"
    assert root.find("wnio:TrescDokumentu/wnio:RodzajWnioskuRozszerzony", ns).get("rodzaj") == "skarga"
    text = root.findtext("wnio:TrescDokumentu/wnio:Informacje/wnio:Informacja", namespaces=ns)
    assert text == "Treść\nw dwóch liniach"
    assert root.findtext(".//oso:Osoba/oso:IdOsoby/oso:PESEL", namespaces=ns) == "01230804662"
    assert root.findtext(".//str:Adresaci//inst:NazwaInstytucji", namespaces=ns) == "Urząd Miasta Leszna"
    # fields are written in the order the schema's sequence demands, not the form's order
    content = [etree.QName(e).localname for e in root.find("wnio:TrescDokumentu", ns)]
    assert content == ["MiejscowoscDokumentu", "Tytul", "RodzajWnioskuRozszerzony", "Informacje"]
    assert schemas.validate(schemas.compile_schema(letter.xsd_text), root) == []


def test_a_document_the_schema_refuses_is_our_error_not_the_residents(letter: definitions.LoadedService) -> None:
    with pytest.raises(document.DocumentInvalid) as error:
        build(letter, {"rodzaj": "wniosek", "tytul": "x" * 300, "tresc": "t", "miejscowosc": "Leszno"})
    assert any("Tytul" in e for e in error.value.errors)
