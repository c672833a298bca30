from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from portal.forms import definitions
from portal.forms.definitions import DefinitionError

CATALOG = Path(__file__).resolve().parents[2] / "catalog"


def copy_service(tmp_path: Path, name: str = "pismo-ogolne") -> Path:
    target = tmp_path / name
    shutil.copytree(CATALOG / "pismo-ogolne", target)
    return target


def edit(folder: Path, change) -> None:
    file = folder / definitions.DEFINITION_FILE
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    change(data)
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_demo_general_letter_loads_with_every_field_mapped() -> None:
    service = definitions.read_folder(CATALOG / "pismo-ogolne")
    assert service.definition.id == "pismo-ogolne"
    assert service.definition.namespace == "http://crd.gov.pl/wzor/2013/12/12/1410/"
    assert [f.id for f in service.definition.fields] == ["rodzaj", "tytul", "tresc", "miejscowosc"]


@pytest.mark.parametrize(
    ("change", "where", "fault"),
    [
        (lambda d: d["title"].pop("en"), "title", "'en' text is missing"),
        (lambda d: d["steps"][0]["fields"][1]["label"].pop("pl"), "field 'tytul' label", "'pl' text is missing"),
        (lambda d: d["steps"][0]["fields"][1].update(xml="Tytuul"), "field 'tytul' xml", "no child element 'Tytuul'"),
        (lambda d: d["steps"][0]["fields"].pop(2), "mapping", "Informacje/Informacja"),
        (lambda d: d["steps"][0]["fields"][0]["choices"].append({"value": "petycja", "label": {"pl": "P", "en": "P"}}),
         "field 'rodzaj'", "not allowed by the schema"),
        (lambda d: d["steps"][0]["fields"][1].update(type="slider"), "field 'tytul'", "unknown type 'slider'"),
        (lambda d: d.update(signature="fax"), "signature", "use one of"),
        (lambda d: d.update(procedure="kpa-3y"), "procedure", "unknown procedure type"),
        (lambda d: d["steps"][0]["fields"][1].update(xml="Informacje"), "field 'tytul' xml", "is a structure"),
    ],
)
def test_broken_definition_is_refused_naming_file_field_and_fault(tmp_path: Path, change, where: str,
                                                                  fault: str) -> None:
    folder = copy_service(tmp_path)
    edit(folder, change)
    with pytest.raises(DefinitionError) as error:
        definitions.read_folder(folder)
    assert error.value.file.endswith("usluga.yaml")
    assert error.value.where == where
    assert fault in error.value.fault


def test_schema_that_does_not_compile_is_refused(tmp_path: Path) -> None:
    folder = copy_service(tmp_path)
    (folder / "schemat.xsd").write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/>"
                                        "</xs:schema>", encoding="utf-8")
    with pytest.raises(DefinitionError) as error:
        definitions.read_folder(folder)
    assert error.value.file.endswith("schemat.xsd")


def test_one_broken_service_does_not_stop_the_others(tmp_path: Path) -> None:
    copy_service(tmp_path, "a-good")
    broken = copy_service(tmp_path, "b-broken")
    edit(broken, lambda d: d.update(id="b-broken", title={"pl": "tylko po polsku"}))
    services, errors = definitions.read_catalog(tmp_path)
    assert [s.definition.id for s in services] == ["pismo-ogolne"]
    assert len(errors) == 1 and "b-broken" in errors[0].file


def test_schema_imports_never_touch_the_network(tmp_path: Path) -> None:
    folder = copy_service(tmp_path)
    xsd = (folder / "schemat.xsd").read_text(encoding="utf-8")
    remote = ('<xs:import namespace="http://example.invalid/ns" schemaLocation="http://example.invalid/x.xsd"/>'
              '<xs:element name="Zdalny" xmlns:x="http://example.invalid/ns" type="x:Typ"/>')
    (folder / "schemat.xsd").write_text(xsd.replace("<xs:simpleType name=\"TekstTyp\">", remote +
                                                    "<xs:simpleType name=\"TekstTyp\">"), encoding="utf-8")
    with pytest.raises(DefinitionError) as error:
        definitions.read_folder(folder)
    assert "does not compile" in error.value.fault


def test_date_limits_are_absolute_or_relative_to_today() -> None:
    from datetime import date

    today = date(2026, 12, 3)
    assert definitions.resolve_date("today", today) == today
    assert definitions.resolve_date("2013-07-01", today) == date(2013, 7, 1)
    assert definitions.resolve_date("-100y", today) == date(1926, 12, 3)
    assert definitions.resolve_date("+1y", date(2028, 2, 29)) == date(2029, 2, 28)  # no 29 February: its eve
    assert definitions.resolve_date("-1m", date(2026, 3, 31)) == date(2026, 2, 28)
    assert definitions.resolve_date("today+30d", today) == date(2027, 1, 2)
    assert definitions.resolve_date("+2w", today) == date(2026, 12, 17)


@pytest.mark.parametrize(("limits", "fault"), [
    ({"min": "yesterday"}, "use a date (2013-07-01), today, or a distance from today such as -100y, +2w, +30d"),
    ({"max": "+1 year"}, "use a date"),
    ({"min": "2030-01-01", "max": "2020-01-01"}, "min comes after max"),
    ({"min": "+1y", "max": "today"}, "min comes after max"),
])
def test_a_date_limit_that_cannot_be_read_is_refused(tmp_path: Path, limits: dict, fault: str) -> None:
    folder = tmp_path / "zajecie-pasa-drogowego"
    shutil.copytree(CATALOG / "zajecie-pasa-drogowego", folder)
    edit(folder, lambda d: d["steps"][1]["fields"][2].update(limits))
    with pytest.raises(DefinitionError) as error:
        definitions.read_folder(folder)
    assert error.value.where == "field 'od'"
    assert fault in error.value.fault


def test_a_date_limit_written_as_a_yaml_date_is_read_as_that_date(tmp_path: Path) -> None:
    from datetime import date

    folder = tmp_path / "zajecie-pasa-drogowego"
    shutil.copytree(CATALOG / "zajecie-pasa-drogowego", folder)
    edit(folder, lambda d: d["steps"][1]["fields"][2].update({"min": date(2020, 1, 1)}))  # unquoted in YAML
    od = definitions.read_folder(folder).definition.field("od")
    assert od.min_date == "2020-01-01"


def test_a_currency_is_only_for_amounts() -> None:
    folder = CATALOG / "deklaracja-odpady"
    fee = definitions.read_folder(folder).definition.field("oplata")
    assert fee.currency == "PLN"
    data = yaml.safe_load((folder / definitions.DEFINITION_FILE).read_text(encoding="utf-8"))
    for ftype, currency in (("text", "PLN"), ("decimal", "EUR")):
        data["steps"][0]["fields"][1].update(type=ftype, currency=currency)
        with pytest.raises(DefinitionError) as error:
            definitions.parse(folder / definitions.DEFINITION_FILE, data)
        assert "currency is for number and decimal fields, one of PLN" in error.value.fault
