"""Every demo service: valid answers always make schema-valid XML, invalid ones always get a field
message (never a server error), and each can be filed end to end over HTTP."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import select
from werkzeug.test import TestResponse

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

# Dates a definition bounds by today (a road occupation to come, a removal planned) are counted from it.
IN_A_WEEK, IN_TWO_WEEKS = ((wtf.today() + timedelta(days=days)).isoformat() for days in (7, 14))
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
                               "lokalizacja": "Chodnik przed nr 5.", "od": IN_A_WEEK, "do": IN_TWO_WEEKS,
                               "elementy": [{"rodzaj": "chodnik", "dlugosc": "12.5", "szerokosc": "2"},
                                            {"rodzaj": "jezdnia", "dlugosc": "3", "szerokosc": "1.5"}],
                               "wykonawca": "Wod-Kan Leszno sp. z o.o.", "kierownik": "Adam Nowicki",
                               "telefon": "+48 600 100 200"},
    "usuniecie-drzew": {"tytul_prawny": "współwłaściciel", "zgoda": True, "nr_dzialki": "45/2", "obreb": "Zatorze",
                        "adres": "", "zakres": "drzewa i krzewy",
                        "drzewa": [{"gatunek": "klon zwyczajny", "obwod": "130"}, {"gatunek": "brzoza", "obwod": "95"}],
                        "krzewy": [{"gatunek": "żywotnik", "powierzchnia": "6.5"}],
                        "przyczyna": "Drzewa zagrażają budynkowi.", "termin": IN_TWO_WEEKS, "dzialalnosc": "false"},
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


def fill_in(client: FlaskClient, app: Flask, slug: str, answers: dict[str, Any],
            files: dict[str, tuple[str, bytes]]) -> TestResponse:
    """Start the service and answer every visible step over HTTP, attaching `files` on the attachments step.

    Returns the first step that refused its answers (400), or the redirect to the summary."""
    response = client.post(f"/uslugi/{slug}/rozpocznij", data={"csrf_token": csrf_token(client, f"/uslugi/{slug}"),
                                                               "nowy": "1"})  # another, even with one open
    with app.app_context():
        definition = service.definition_of(_eservice(slug))
    for _ in range(12):
        if response.status_code != 302 or "/podsumowanie" in response.headers["Location"]:
            return response
        target = local(response.headers["Location"])
        step_id = target.split("/krok/")[1].split("?")[0]
        token = csrf_token(client, target)
        if step_id == ATTACHMENTS_STEP:
            for rule_id, (name, content) in files.items():
                sent = client.post(target, data={"csrf_token": token, "_akcja": f"wyslij:{rule_id}",
                                                 f"plik-{rule_id}": (io.BytesIO(content), name)},
                                   content_type="multipart/form-data")
                assert sent.status_code == 302, sent.get_data(as_text=True)
            response = client.post(target, data={"csrf_token": token, "_akcja": "dalej"})
            continue
        step = definition.step(step_id)
        formdata = wtf.values_as_formdata(step, answers)
        response = client.post(target, data={"csrf_token": token, "_akcja": "dalej", **formdata.to_dict(flat=False)})
    raise AssertionError(f"{slug}: still not at the summary after 12 steps")


def file_service(client: FlaskClient, app: Flask, slug: str) -> str:
    """Walk a service over HTTP: every visible step, the attachments, the summary, the signature."""
    browser = login_resident(client)
    answered = fill_in(client, app, slug, SAMPLES[slug], FILES.get(slug, {}))
    assert answered.status_code == 302, answered.get_data(as_text=True)[:2000]
    target = local(answered.headers["Location"])
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


def _sample_file(types: tuple[str, ...]) -> tuple[str, bytes]:
    return ("plik.pdf", PDF) if "application/pdf" in types else ("plik.png", PNG)


@pytest.fixture
def resident(client: FlaskClient) -> FlaskClient:
    login_resident(client)
    return client


ERROR_LINKS = re.compile(r'<li><a href="#([^"]+)">')


def _keep_unchecked_and_show(client: FlaskClient, definition: Any, step_url: str, answers: dict[str, Any]) -> None:
    """The autosave before a session ends keeps answers unchecked: the refused ones too must show safely."""
    step = definition.step(step_url.split("/krok/")[1])
    formdata = wtf.values_as_formdata(step, answers).to_dict(flat=False)
    saved = client.post(f"{step_url}?autozapis=1", data={"csrf_token": csrf_token(client, step_url), **formdata})
    assert saved.status_code == 204
    for url in (step_url, step_url.split("/krok/")[0] + "/podsumowanie", "/moje-sprawy"):
        shown = client.get(url)
        assert shown.status_code in (200, 302), (url, shown.status_code)
        assert strategies.unescaped_markup(shown.get_data(as_text=True)) == []


@pytest.mark.parametrize("slug", SERVICES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_text_in_any_fields_over_http_is_refused_or_kept_safely(app: Flask, resident: FlaskClient,
                                                                        catalog: None, slug: str,
                                                                        data: st.DataObject) -> None:
    """Any unicode, control characters, NUL, `]]>`, markup or a very long string typed into one or more fields
    (a choice's value too: a hand-made request can send anything) gets a message on those fields or is kept —
    never a server error, never echoed as markup — and what is kept makes a schema-valid document."""
    with app.app_context():
        eservice = _eservice(slug)
        definition, parts = service.definition_of(eservice), service.components(eservice)
        answers = data.draw(strategies.answers(definition, parts))
    candidates = [(leaf, group) for leaf, group in _leaves(definition) if leaf.type != "checkbox"]
    one = st.sampled_from(candidates).map(lambda c: [c])  # half the time: the rest is valid, so it may be kept
    several = st.lists(st.sampled_from(candidates), min_size=2, max_size=len(candidates),
                       unique_by=lambda c: (c[1].id if c[1] else "", c[0].id))
    chosen = data.draw(st.one_of(one, several))
    targets: set[str] = set()
    must_refuse = []  # fields given an answer `strategies.invalid` says they refuse
    for leaf, group in chosen:
        refused = strategies.invalid(leaf, parts[f"{group.id}.{leaf.id}" if group else leaf.id])
        hostile = data.draw(st.one_of(strategies.hostile_text(), *([st.sampled_from(refused)] if refused else [])))
        if group:
            answers[group.id] = [dict(answers[group.id][0], **{leaf.id: hostile}), *answers[group.id][1:]]
            targets |= {f"{group.id}-0-{leaf.id}", group.id}
        else:
            answers[leaf.id] = hostile
            targets.add(leaf.id)
        if hostile in refused:
            must_refuse.append(group or leaf)
    steps = {(group or leaf).id: next(s for s in definition.steps if (group or leaf) in s.fields)
             for leaf, group in chosen}
    for leaf, group in chosen:  # make sure the fields are asked, unless a hostile answer decides it
        for condition in (steps[(group or leaf).id].show_if, (group or leaf).show_if):
            if condition and condition.field not in targets:
                answers[condition.field] = condition.values[0]
    # A date that must not precede a hostile one may be the field that gets the message.
    targets |= {f.id for f in definition.fields if f.not_before in targets}
    with app.app_context():
        rules = flow.attachment_rules(definition, flow.effective_answers(definition, answers))
    answered = fill_in(resident, app, slug, answers, {r.id: _sample_file(r.types) for r in rules})
    page = answered.get_data(as_text=True)
    assert answered.status_code in (302, 400), page[:2000]
    assert strategies.unescaped_markup(page) == []
    event("refused" if answered.status_code == 400 else "accepted")
    if answered.status_code == 400:  # refused: the messages are on hostile fields, the only ones out of order
        errors = set(ERROR_LINKS.findall(page))
        assert errors and errors <= targets, (errors, targets, page[:3000])
        _keep_unchecked_and_show(resident, definition, answered.request.path, answers)
        return
    asked = [owner.id for owner in must_refuse
             if flow.step_visible(steps[owner.id], answers) and flow.field_visible(owner, answers)]
    assert asked == [], f"{asked} accepted answers they must refuse"
    summary = local(answered.headers["Location"])
    shown = resident.get(summary)
    assert shown.status_code == 200 and strategies.unescaped_markup(shown.get_data(as_text=True)) == []
    assert resident.get(summary.replace("/podsumowanie", "/podglad.pdf")).data.startswith(b"%PDF-")
    signed = resident.get(summary.replace("/podsumowanie", "/podpis/dokument.xml"))
    assert signed.status_code == 200, signed.get_data(as_text=True)[:2000]
    with app.app_context():
        assert schemas.validate(service.schema_of(_eservice(slug)), etree.fromstring(signed.data)) == []


@pytest.mark.parametrize("text", ["Proszę o naprawę chodnika przy ulicy.\n" * 520, "x" * 20_000, "a\n" * 9_999],
                         ids=["prose", "one-word", "many-lines"])
def test_the_longest_letter_has_a_preview_and_a_document(app: Flask, resident: FlaskClient, catalog: None,
                                                         text: str) -> None:
    """Fuzzing found it: an answer longer than a page broke the PDF (a table row cannot cross a page)."""
    answered = fill_in(resident, app, "pismo-ogolne", {**SAMPLES["pismo-ogolne"], "tresc": text}, {})
    assert answered.status_code == 302, answered.get_data(as_text=True)[:2000]
    summary = local(answered.headers["Location"])
    assert resident.get(summary.replace("/podsumowanie", "/podglad.pdf")).data.startswith(b"%PDF-")
    assert resident.get(summary.replace("/podsumowanie", "/podpis/dokument.xml")).status_code == 200
