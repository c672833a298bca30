"""What residents type, read the way they mean it: postcodes without the hyphen an iOS numeric keypad lacks."""

from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from portal.forms import document, flow, service, wtf
from tests.forms.test_catalog_services import OFFICE, PDF, SAMPLES, SENDER, _eservice, fill_in
from tests.helpers import local, login_resident


def _check_postcode(typed: str) -> tuple[bool, dict, list]:
    eservice = _eservice("deklaracja-odpady")
    definition, parts = service.definition_of(eservice), service.components(eservice)
    step = definition.step("nieruchomosc")
    formdata = wtf.values_as_formdata(step, SAMPLES["deklaracja-odpady"])
    formdata = MultiDict([(k, v) for k, v in formdata.items(multi=True) if k != "kod"] + [("kod", typed)])
    form = wtf.step_form(step, parts, {}, formdata=formdata, csrf=False)
    ok = wtf.validate(form, step, SAMPLES["deklaracja-odpady"])
    return ok, wtf.answers_of(form, step), wtf.errors(form)


@pytest.mark.parametrize("typed", ["64100", "64 100", " 64-100 ", "64\u00a0100", "64–100"])
def test_a_postcode_without_its_hyphen_is_accepted_and_stored_as_00_000(ctx: None, catalog: None,
                                                                         typed: str) -> None:
    ok, answers, errors = _check_postcode(typed)
    assert ok, errors
    assert answers["kod"] == "64-100"


@pytest.mark.parametrize("typed", ["6410", "641000", "64-1000", "6a100", "64--100"])
def test_a_postcode_with_the_wrong_digits_still_gets_its_message(ctx: None, catalog: None, typed: str) -> None:
    ok, _answers, errors = _check_postcode(typed)
    assert not ok
    assert ("kod", "Wpisz kod pocztowy w formacie 00-000.") in errors


def test_the_document_carries_the_postcode_as_the_schema_wants_it(app: Flask, ctx: None, catalog: None) -> None:
    ok, answers, _errors = _check_postcode("64100")
    eservice = _eservice("deklaracja-odpady")
    definition = service.definition_of(eservice)
    values = {**SAMPLES["deklaracja-odpady"], **answers}
    xml = document.build(definition, service.schema_of(eservice), flow.effective_answers(definition, values), SENDER,
                         OFFICE, "draft", date(2026, 11, 25))
    assert re.search(rb"<wnio:KodPocztowy>64-100</wnio:KodPocztowy>", xml)


def _date_step(slug: str, step_id: str, answers: dict) -> tuple[bool, list, object]:
    eservice = _eservice(slug)
    definition, parts = service.definition_of(eservice), service.components(eservice)
    step = definition.step(step_id)
    form = wtf.step_form(step, parts, answers, formdata=wtf.values_as_formdata(step, answers), csrf=False)
    return wtf.validate(form, step, answers), wtf.errors(form), form


def test_a_date_the_definition_bounds_is_refused_outside_its_range(ctx: None, catalog: None) -> None:
    """The waste fee obligation arose already (no year 2099) and not before the fee existed (1 July 2013)."""
    answers = dict(SAMPLES["deklaracja-odpady"])
    today = wtf.today()
    for typed, message in (
        ("2099-01-01", "„Data powstania obowiązku albo zmiany” nie może być datą z przyszłości."),
        ((today + timedelta(days=1)).isoformat(), "„Data powstania obowiązku albo zmiany” nie może być datą "
                                                  "z przyszłości."),
        ("2013-06-30", "„Data powstania obowiązku albo zmiany”: wpisz datę nie wcześniejszą niż 01.07.2013."),
    ):
        ok, errors, _form = _date_step("deklaracja-odpady", "cel", {**answers, "data_obowiazku": typed})
        assert not ok and ("data_obowiazku", message) in errors, (typed, errors)
    for typed in ("2013-07-01", today.isoformat()):
        ok, errors, _form = _date_step("deklaracja-odpady", "cel", {**answers, "data_obowiazku": typed})
        assert ok, (typed, errors)


def test_the_date_input_carries_the_range_for_the_browsers_picker(ctx: None, catalog: None) -> None:
    _ok, _errors, form = _date_step("deklaracja-odpady", "cel", SAMPLES["deklaracja-odpady"])
    html = str(form["data_obowiazku"]())
    assert 'type="date"' in html and 'min="2013-07-01"' in html and f'max="{wtf.today().isoformat()}"' in html
    _ok, _errors, form = _date_step("zajecie-pasa-drogowego", "miejsce", SAMPLES["zajecie-pasa-drogowego"])
    html = str(form["od"]())
    assert f'min="{wtf.today().isoformat()}"' in html


def test_a_road_occupation_cannot_start_in_the_past(ctx: None, catalog: None) -> None:
    answers = {**SAMPLES["zajecie-pasa-drogowego"], "od": (wtf.today() - timedelta(days=1)).isoformat()}
    ok, errors, _form = _date_step("zajecie-pasa-drogowego", "miejsce", answers)
    assert not ok and ("od", "„Zajęcie od” nie może być datą z przeszłości.") in errors


def _summary(client: FlaskClient, app: Flask, slug: str, answers: dict, files: dict | None = None) -> str:
    answered = fill_in(client, app, slug, answers, files or {})
    assert answered.status_code == 302, answered.get_data(as_text=True)[:2000]
    return local(answered.headers["Location"])


def test_the_summary_shows_dates_and_amounts_as_residents_write_them(app: Flask, client: FlaskClient,
                                                                     catalog: None) -> None:
    """„Sprawdź dane”: 01.11.2026, not 2026-11-01; 120,00 zł (PLN 120.00 in English), not 120.00; a length of
    12,5 m with the Polish decimal comma."""
    login_resident(client)
    summary = _summary(client, app, "deklaracja-odpady", SAMPLES["deklaracja-odpady"])
    page = client.get(summary).get_data(as_text=True)
    assert "01.11.2026" in page and "2026-11-01" not in page
    assert "120,00\u00a0zł" in page and "120.00" not in page  # 4 people × (32,00 zł − 2,00 zł for composting)
    english = client.get(summary + "?lang=en").get_data(as_text=True)
    assert "PLN\u00a0120.00" in english and "01.11.2026" in english
    client.get(summary + "?lang=pl")

    road = _summary(client, app, "zajecie-pasa-drogowego", SAMPLES["zajecie-pasa-drogowego"],
                    {"plan": ("plan.pdf", PDF), "organizacja_ruchu": ("por.pdf", PDF)})
    page = client.get(road).get_data(as_text=True)
    assert "<dd>12,5</dd>" in page and "12.5" not in page
    assert (wtf.today() + timedelta(days=7)).strftime("%d.%m.%Y") in page


def test_the_fee_step_tells_the_browser_the_formula_the_server_uses(app: Flask, client: FlaskClient,
                                                                    catalog: None) -> None:
    """The waste fee is previewed in the browser as the residents are counted (portal/static/forms.js) with the
    definition's own parameters; what the server computes is what the summary and the document carry."""
    login_resident(client)
    summary = _summary(client, app, "deklaracja-odpady", SAMPLES["deklaracja-odpady"])
    step = client.get(summary.replace("/podsumowanie", "/krok/oplata")).get_data(as_text=True)
    found = re.search(r"data-compute=\"([^\"]+)\"", step)
    assert found, step
    formula = json.loads(html.unescape(found.group(1)))
    assert formula == {"calculator": "per-person-fee", "persons": "mieszkancy", "rate": "32.00", "discount": "2.00",
                       "discount_if": "kompostownik", "currency": "PLN"}
    assert 'aria-live="polite"' in step and "120,00\u00a0zł" in step  # the stored answers' fee, from the server
