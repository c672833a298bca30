"""The statistics page and its open data: what they show, in which shape, and that no person is in them."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import format_date

from portal.auth import pii
from portal.clock import WARSAW
from portal.db_types import utcnow
from portal.inbox.models import Submission
from portal.stats import opendata, service
from portal.status import service as status
from tests.factories import make_resident, make_submission
from tests.stats.conftest import FOI, LETTER, MONTHS, NOW, OTHERS, WASTE, event, residents, submitted

CHARTS = ("wykres-pisma-miesiace", "wykres-mieszkancy", "wykres-pisma-uslugi", "wykres-terminy")
PERIOD = "2025-08/2026-07"


def test_the_page_shows_each_chart_with_a_title_a_description_and_a_table(app: Flask, catalog: None, pki: Path,
                                                                          client: FlaskClient) -> None:
    with app.test_request_context():
        person = make_resident()
        for _ in range(5):
            make_submission(pki, person)
        this_month = format_date(utcnow().astimezone(WARSAW).date(), "LLLL yyyy")

    page = client.get("/statystyki")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") == html.count('role="img"') == len(CHARTS)
    for chart in CHARTS:
        assert f'aria-labelledby="{chart}-title" aria-describedby="{chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    assert html.count("<table>") >= len(CHARTS)
    # The five letters of this month, in the chart and in its table; their one resident is hidden.
    assert f'<th scope="row">{this_month} (do dziś)</th><td class="number">5</td>' in html
    assert 'class="chart__value"' in html and ">5</text>" in html
    assert "&lt;5" in html and "<5<" not in html
    assert 'href="/statystyki.csv"' in html and 'href="/statystyki.json"' in html


def test_the_page_is_there_in_english_and_before_anything_was_filed(app: Flask, client: FlaskClient) -> None:
    empty = client.get("/statystyki")
    english = client.get("/statystyki?lang=en")

    assert empty.status_code == english.status_code == 200
    assert '<html lang="en">' in english.get_data(as_text=True)


def test_every_page_links_to_the_statistics(app: Flask, catalog: None, client: FlaskClient) -> None:
    assert 'href="/statystyki">Statystyki urzędu</a>' in client.get("/").get_data(as_text=True)


def test_no_output_names_a_person(app: Flask, catalog: None, pki: Path, client: FlaskClient) -> None:
    with app.test_request_context():
        people = residents(6)
        filed = [submitted(pki, person, LETTER, utcnow()) for person in people for _ in range(2)]
        for submission in filed:
            event(submission, status.DECISION, utcnow(), summary=f"Decyzja dla: {submission.resident.full_name}",
                  case_reference="OR.0012.1.2026")
        secrets = [s for p in people for s in (pii.decrypt(p.pesel_encrypted), p.full_name, p.family_name)]
        secrets += [s for submission in filed for s in (submission.id, submission.receipt_id)]

    outputs = [client.get(url).get_data(as_text=True) for url in
               ("/statystyki", "/statystyki?lang=en", "/statystyki.csv", "/statystyki.json")]

    assert '<td class="number">12</td>' in outputs[0]  # the twelve letters are there…
    for output in outputs:  # …but nobody who filed them
        assert not [secret for secret in secrets if secret in output]
        assert "OR.0012.1.2026" not in output and "Decyzja dla" not in output


def test_open_data_in_json(office: dict[str, Submission]) -> None:
    data = opendata.as_json(service.compute(NOW), "Urząd Miasta Leszna")

    assert data["generated_at"] == "2026-07-15T10:00:00+00:00"
    assert data["period"] == {"first_day": "2025-08-01", "last_day": "2026-07-15", "months": MONTHS,
                              "time_zone": "Europe/Warsaw"}
    assert data["suppression"]["smallest_published_count"] == 5 and set(data["suppression"]["rule"]) == {"pl", "en"}
    assert data["eservices_offered"]["count"] == 6
    assert {s["id"] for s in data["eservices_offered"]["services"]} == {LETTER, FOI, WASTE, *OTHERS}
    april = next(m for m in data["submissions"]["by_month"] if m["month"] == "2026-04")
    assert april == {"month": "2026-04", "partial": False, "count": 8,
                     "by_service": {LETTER: None, FOI: None, WASTE: 5, **{s: None for s in OTHERS}}}
    assert data["submissions"]["total"] == 15
    assert [m["count"] for m in data["residents"]["by_month"]][-5:] == [6, 5, None, None, None]  # March to July
    assert data["residents"]["total"] == 6
    assert data["deadlines"]["all"] == {"cases_settled": 13, "cases_assessed": 8, "settled_in_time_percent": 87.5,
                                        "median_handling_days": 9.0}
    by_service = {s["service"]: s for s in data["deadlines"]["by_service"]}
    assert by_service[WASTE] == {"service": WASTE, "has_deadline": False, "cases_settled": 5, "cases_assessed": None,
                                 "settled_in_time_percent": None, "median_handling_days": 4.0}
    assert by_service[FOI]["cases_settled"] is None


def test_open_data_in_csv_one_figure_a_row(office: dict[str, Submission]) -> None:
    rows = list(csv.DictReader(io.StringIO(opendata.as_csv(service.compute(NOW))), delimiter=";"))
    figure = {(r["measure"], r["period"], r["service"]): (r["value"], r["suppressed"]) for r in rows}

    assert list(rows[0]) == list(opendata.CSV_FIELDS)
    assert {r["generated_at"] for r in rows} == {"2026-07-15T10:00:00+00:00"}
    assert figure["eservices_offered", "", ""] == ("6", "")
    assert figure["submissions", "2026-03", ""] == ("6", "")
    assert figure["submissions", "2026-04", WASTE] == ("5", "")
    assert figure["submissions", "2026-04", LETTER] == ("", "below_5")
    assert figure["submissions", PERIOD, ""] == ("15", "")
    assert figure["residents", "2026-03", ""] == ("6", "")
    assert figure["residents", PERIOD, ""] == ("6", "")
    assert figure["settled_in_time_percent", PERIOD, ""] == ("87.5", "")
    assert figure["median_handling_days", PERIOD, ""] == ("9", "")
    assert figure["median_handling_days", PERIOD, LETTER] == ("31.5", "")
    assert figure["settled_in_time_percent", PERIOD, LETTER] == ("83.3", "")
    assert ("cases_assessed", PERIOD, WASTE) not in figure  # a declaration has no statutory deadline
    assert next(r["service_title"] for r in rows if r["service"] == LETTER) == "Pismo ogólne do urzędu"
    assert len(rows) == len(figure)


def test_open_data_may_be_fetched_from_anywhere(app: Flask, catalog: None, client: FlaskClient) -> None:
    as_json = client.get("/statystyki.json")
    as_csv = client.get("/statystyki.csv")

    assert as_json.mimetype == "application/json" and as_csv.mimetype == "text/csv"
    for response in (as_json, as_csv):
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Cache-Control"] == f"public, max-age={service.CACHE_SECONDS}"
    data = json.loads(as_json.get_data(as_text=True))
    assert datetime.fromisoformat(data["generated_at"]).tzinfo is not None
    assert data["submissions"]["total"] is None  # nothing filed yet: 0, which is under 5
    assert as_csv.get_data(as_text=True).startswith("\ufeffgenerated_at;measure;")
    assert as_csv.headers["Content-Disposition"] == 'attachment; filename="statystyki-urzedu.csv"'
