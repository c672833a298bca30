"""What residents type, read the way they mean it: postcodes without the hyphen an iOS numeric keypad lacks."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from portal.forms import document, flow, service, wtf
from tests.forms.test_catalog_services import OFFICE, SAMPLES, SENDER, _eservice


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
