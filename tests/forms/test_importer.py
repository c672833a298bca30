from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from portal.forms import definitions, importer

CATALOG = Path(__file__).resolve().parents[2] / "catalog"


def fill_todos(data: object) -> object:
    """What the administrator does next: replace every TODO."""
    if isinstance(data, dict):
        return {k: fill_todos(v) for k, v in data.items()}
    if isinstance(data, list):
        return [fill_todos(v) for v in data]
    return "Uzupełnione" if data == "TODO" else data


def test_import_drafts_a_definition_with_choices_patterns_groups_and_hints(tmp_path: Path) -> None:
    draft = importer.draft_definition(CATALOG / "usuniecie-drzew" / "schemat.xsd")
    fields = {f["id"]: f for step in draft["steps"] for f in step["fields"]}
    assert fields["tytul_prawny"]["type"] == "choice" and fields["tytul_prawny"]["required"] is True
    assert [c["value"] for c in fields["zakres"]["choices"]] == ["drzewa", "krzewy", "drzewa i krzewy"]
    assert fields["nr_dzialki"]["type"] == "text" and fields["nr_dzialki"]["pattern"].startswith("[0-9]{1,5}")
    assert fields["zgoda_wlasciciela"]["type"] == "checkbox" and "required" not in fields["zgoda_wlasciciela"]
    assert fields["termin_usuniecia"]["type"] == "date"
    trees = fields["drzewo_lista"]
    assert trees["type"] == "group" and trees["xml"] == "Drzewa/Drzewo" and trees["max_items"] == 100
    girth = next(f for f in trees["fields"] if f["id"] == "obwod_pnia")
    assert girth["type"] == "number" and girth["min"] == 1 and girth["max"] == 2000
    assert girth["hint"]["pl"] == "Obwód pnia mierzony na wysokości 130 cm, w centymetrach."
    shrubs = next(f for f in fields["krzew_lista"]["fields"] if f["id"] == "powierzchnia")
    assert shrubs["type"] == "decimal"


def test_a_draft_loads_once_its_todos_are_filled_and_not_before(tmp_path: Path) -> None:
    folder = tmp_path / "nowa-usluga"
    folder.mkdir()
    shutil.copy(CATALOG / "usuniecie-drzew" / "schemat.xsd", folder / "schemat.xsd")
    result = subprocess.run([str(Path(sys.executable).with_name("okienko")), "catalog", "import",
                             str(folder / "schemat.xsd"), "--out", str(folder / "usluga.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    try:
        definitions.read_folder(folder)
        raise AssertionError("a definition with TODO must not load")
    except definitions.DefinitionError as error:
        assert "TODO" in error.fault
    data = fill_todos(yaml.safe_load((folder / "usluga.yaml").read_text(encoding="utf-8")))
    data.update(procedure="kpa-1m", unit="OŚ")
    (folder / "usluga.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    loaded = definitions.read_folder(folder)
    assert loaded.definition.id == "nowa-usluga"
    assert any(f.is_group for f in loaded.definition.fields)
