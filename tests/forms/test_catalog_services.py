"""Every demo service: valid answers always make schema-valid XML, invalid ones always get a field
message (never a server error), and each can be filed end to end over HTTP."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import select

from portal.extensions import db
from portal.forms import document, flow, schemas, service, wtf
from portal.forms.definitions import ATTACHMENTS_STEP
from portal.forms.models import EService
from portal.inbox.models import Submission
from tests.forms import strategies
from tests.helpers import csrf_token, local, login_resident, sign_with_trusted_profile

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
SERVICES = sorted(p.name for p in CATALOG.iterdir() if (p / "usluga.yaml").exists())
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

SAMPLES: dict[str, dict[str, Any]] = {
    "pismo-ogolne": {"rodzaj": "wniosek", "tytul": "Wniosek", "tresc": "Proszę o naprawę.", "miejscowosc": "Leszno"},
    "informacja-publiczna": {"opis": "Umowy na odśnieżanie ulic w 2025 roku.", "sposob_dostepu": "pliki komputerowe",
                             "forma": "poczta elektroniczna", "email": "jan@example.pl"},
    "deklaracja-odpady": {"cel": "nowa deklaracja", "data_obowiazku": "2026-11-01",
                          "przyczyna": "Urodziło się dziecko.",
                          "tytul_prawny": "właściciel", "telefon": "", "email": "", "ulica": "ul. Słowiańska",
                          "nr_domu": "12", "nr_lokalu": "4", "kod": "64-100", "miejscowosc": "Leszno",
                          "nr_dzialki": "", "mieszkancy": "4", "kompostownik": True, "oswiadczenie": True},
    "zaswiadczenie": {"rodzaj": "przeznaczenie nieruchomości w planie miejscowym", "nr_dzialki": "123/4",
                      "obreb": "Leszno 5", "cel": "Do wniosku o pozwolenie na budowę.", "egzemplarze": "1",
                      "odbior": "elektronicznie"},
    "zajecie-pasa-drogowego": {"cel": "prowadzenie robót", "opis": "Przyłącze wodociągowe.",
                               "ulica": "ul. Leszczyńskich",
                               "lokalizacja": "Chodnik przed nr 5.", "od": "2026-12-01", "do": "2026-12-10",
                               "elementy": [{"rodzaj": "chodnik", "dlugosc": "12.5", "szerokosc": "2"},
                                            {"rodzaj": "jezdnia", "dlugosc": "3", "szerokosc": "1.5"}],
                               "wykonawca": "Wod-Kan Leszno sp. z o.o.", "kierownik": "Adam Nowicki",
                               "telefon": "+48 600 100 200"},
    "usuniecie-drzew": {"tytul_prawny": "współwłaściciel", "zgoda": True, "nr_dzialki": "45/2", "obreb": "Zatorze",
                        "adres": "", "zakres": "drzewa i krzewy",
                        "drzewa": [{"gatunek": "klon zwyczajny", "obwod": "130"}, {"gatunek": "brzoza", "obwod": "95"}],
                        "krzewy": [{"gatunek": "żywotnik", "powierzchnia": "6.5"}],
                        "przyczyna": "Drzewa zagrażają budynkowi.", "termin": "2027-02-15", "dzialalnosc": "false"},
}
FILES: dict[str, dict[str, tuple[str, bytes]]] = {
    "zaswiadczenie": {"oplata": ("przelew.png", PNG)},
    "zajecie-pasa-drogowego": {"plan": ("plan.pdf", PDF), "organizacja_ruchu": ("por.pdf", PDF)},
    "usuniecie-drzew": {"rysunek": ("mapka.pdf", PDF), "zgoda_wlasciciela": ("zgoda.pdf", PDF)},
}
SENDER = document.Sender("Jan", "Kowalski", "80010112357", {"locality": "Leszno", "postal_code": "64-100"})
OFFICE = document.Addressee("Urząd Miasta Leszna", "ul. Kazimierza Karasia", "15", "64-100", "Leszno")


def test_the_demo_catalog_has_the_six_matters() -> None:
    assert set(SERVICES) >= {"pismo-ogolne", "informacja-publiczna", "deklaracja-odpady", "zaswiadczenie",
                             "zajecie-pasa-drogowego", "usuniecie-drzew"}
    assert set(SAMPLES) == set(SERVICES)


def _eservice(slug: str) -> EService:
    return db.session.scalar(select(EService).where(EService.slug == slug, EService.current))


def _check_all_steps(eservice: EService, answers: dict[str, Any]) -> None:
    definition, parts = service.definition_of(eservice), service.components(eservice)
    for step_id in flow.step_ids(definition, answers):
        if step_id == ATTACHMENTS_STEP:
            continue
        step = definition.step(step_id)
        form = wtf.step_form(step, parts, answers, formdata=wtf.values_as_formdata(step, answers), csrf=False)
        assert wtf.validate(form, step, answers), (step_id, wtf.errors(form), answers)


@pytest.mark.parametrize("slug", SERVICES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_valid_answers_always_make_schema_valid_xml(ctx: None, catalog: None, slug: str, data: st.DataObject) -> None:
    eservice = _eservice(slug)
    definition, parts = service.definition_of(eservice), service.components(eservice)
    answers = data.draw(strategies.answers(definition, parts))
    _check_all_steps(eservice, answers)
    files = [document.AttachedFile(r.label["pl"], "plik.pdf", "application/pdf", "ab" * 32)
             for r in flow.attachment_rules(definition, answers)]
    xml = document.build(definition, service.schema_of(eservice), flow.effective_answers(definition, answers), SENDER,
                         OFFICE, "draft", date(2026, 11, 25), files)  # raises DocumentInvalid if the XSD refuses it
    assert schemas.validate(service.schema_of(eservice), etree.fromstring(xml)) == []


def _leaves(definition: Any) -> list[tuple[Any, Any]]:
    found = []
    for field in definition.fields:
        if field.is_group:
            found += [(sub, field) for sub in field.fields]
        elif not field.compute:
            found.append((field, None))
    return found


@pytest.mark.parametrize("slug", SERVICES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_invalid_answers_always_get_a_message_on_their_field(ctx: None, catalog: None, slug: str,
                                                             data: st.DataObject) -> None:
    eservice = _eservice(slug)
    definition, parts = service.definition_of(eservice), service.components(eservice)
    candidates = [(leaf, group) for leaf, group in _leaves(definition)
                  if strategies.invalid(leaf, parts[f"{group.id}.{leaf.id}" if group else leaf.id])]
    leaf, group = data.draw(st.sampled_from(candidates))
    bad = data.draw(st.sampled_from(strategies.invalid(leaf, parts[f"{group.id}.{leaf.id}" if group else leaf.id])))
    answers = dict(SAMPLES[slug])
    if group:
        answers[group.id] = [dict(answers[group.id][0], **{leaf.id: bad})]
        owner, target = group, f"{group.id}-0-{leaf.id}"
    else:
        answers[leaf.id] = bad
        owner, target = leaf, leaf.id
    if owner.show_if:
        answers[owner.show_if.field] = owner.show_if.values[0]
    step = next(s for s in definition.steps if owner in s.fields)
    form = wtf.step_form(step, parts, answers, formdata=wtf.values_as_formdata(step, answers), csrf=False)
    assert not wtf.validate(form, step, answers)
    assert target in dict(wtf.errors(form)), (bad, wtf.errors(form))


def file_service(client: FlaskClient, app: Flask, slug: str) -> str:
    """Walk a service over HTTP: every visible step, the attachments, the summary, the signature."""
    browser = login_resident(client)
    answers = SAMPLES[slug]
    response = client.post(f"/uslugi/{slug}/rozpocznij", data={"csrf_token": csrf_token(client, f"/uslugi/{slug}")})
    with app.app_context():
        definition = service.definition_of(_eservice(slug))
    for _ in range(12):
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        target = local(response.headers["Location"])
        if "/podsumowanie" in target:
            break
        step_id = target.split("/krok/")[1].split("?")[0]
        token = csrf_token(client, target)
        if step_id == ATTACHMENTS_STEP:
            for rule_id, (name, content) in FILES.get(slug, {}).items():
                sent = client.post(target, data={"csrf_token": token, "_akcja": f"wyslij:{rule_id}",
                                                 f"plik-{rule_id}": (io.BytesIO(content), name)},
                                   content_type="multipart/form-data")
                assert sent.status_code == 302, sent.get_data(as_text=True)
            response = client.post(target, data={"csrf_token": token, "_akcja": "dalej"})
            continue
        step = definition.step(step_id)
        formdata = wtf.values_as_formdata(step, answers)
        response = client.post(target, data={"csrf_token": token, "_akcja": "dalej", **formdata.to_dict(flat=False)})
    summary = client.get(target)
    assert summary.status_code == 200, summary.headers.get("Location")
    assert client.get(target.replace("/podsumowanie", "/podglad.pdf")).data.startswith(b"%PDF-")
    draft_id = target.split("/wnioski/")[1].split("/")[0]
    filed = sign_with_trusted_profile(client, browser, draft_id)
    assert filed.status_code == 302 and "zlozono=1" in filed.headers["Location"], filed.get_data(as_text=True)
    return filed.headers["Location"].split("/moje-sprawy/")[1].split("?")[0]


@pytest.mark.parametrize("slug", SERVICES)
def test_every_service_can_be_filed_over_http(app: Flask, client: FlaskClient, catalog: None, slug: str) -> None:
    submission_id = file_service(client, app, slug)
    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        assert submission is not None and submission.verdict["valid"]
        assert len(submission.attachments) == len(FILES.get(slug, {}))
        root = etree.fromstring(submission.document)
        digests = root.xpath("//*[local-name()='DaneZalacznika']/text()")
        assert {d.rsplit(":", 1)[1] for d in digests} == {a["sha256"] for a in submission.attachments}
