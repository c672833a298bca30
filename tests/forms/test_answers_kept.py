"""Answers typed but not yet sent with "Dalej" survive a change of language (forms.js saves the step first,
unchecked, through its autosave address) and a session that ended meanwhile (the on_session_expiry hook of
portal/forms/views.py, run by portal/auth/service.enforce_idle_timeout over the server-side sessions)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.forms.models import Draft
from tests.helpers import age_session, csrf_token, local, login_resident

TYPED = {"rodzaj": "skarga", "tytul": "Hałas z budowy nocą", "tresc": "Pisane, ale jeszcze niewysłane."}


def open_letter(client: FlaskClient) -> tuple[str, str]:
    login_resident(client)
    token = csrf_token(client, "/uslugi/pismo-ogolne")
    step = local(client.post("/uslugi/pismo-ogolne/rozpocznij", data={"csrf_token": token}).headers["Location"])
    return step, csrf_token(client, step)


def stored(app: Flask) -> dict:
    with app.app_context():
        return db.session.scalar(select(Draft)).values


def test_switching_the_language_on_a_step_keeps_what_was_typed(app: Flask, client: FlaskClient,
                                                               catalog: None) -> None:
    step, token = open_letter(client)
    saved = client.post(f"{step}?autozapis=1", data={"csrf_token": token, **TYPED, "tresc": ""})  # what forms.js sends
    assert saved.status_code == 204
    english = client.get(f"{step}?lang=en").get_data(as_text=True)
    assert 'lang="en"' in english and "Hałas z budowy nocą" in english
    assert "error-summary" not in english  # kept unchecked: the missing text is asked for only at "Continue"
    assert stored(app)["tytul"] == "Hałas z budowy nocą"


def test_a_step_posted_after_the_idle_limit_keeps_its_answers(app: Flask, client: FlaskClient,
                                                              catalog: None) -> None:
    step, token = open_letter(client)
    age_session(app, client, idle=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=61))
    answer = client.post(step, data={"csrf_token": token, **TYPED})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sesja-wygasla")
    assert "powod=czas" not in answer.headers["Location"]
    assert stored(app)["tresc"] == "Pisane, ale jeszcze niewysłane."
    assert client.get("/moje-sprawy").status_code == 302  # signed out: the session ended on the server


def test_a_step_posted_after_the_absolute_limit_keeps_its_answers(app: Flask, client: FlaskClient,
                                                                  catalog: None) -> None:
    step, token = open_letter(client)
    age_session(app, client, since_login=timedelta(hours=app.config["SESSION_MAX_HOURS"], minutes=1))
    answer = client.post(step, data={"csrf_token": token, **TYPED})
    assert answer.status_code == 302 and "powod=czas" in answer.headers["Location"]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Twoje odpowiedzi zapisaliśmy" in page
    assert stored(app)["tytul"] == "Hałas z budowy nocą"


def test_the_autosave_that_arrives_after_the_end_still_keeps_the_answers(app: Flask, client: FlaskClient,
                                                                        catalog: None) -> None:
    """session.js saves the page a few seconds before the end; a slow network may deliver it just after."""
    step, token = open_letter(client)
    age_session(app, client, idle=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=61))
    late = client.post(f"{step}?autozapis=1", data={"csrf_token": token, **TYPED})
    assert late.status_code == 302 and late.headers["Location"].startswith("/sesja-wygasla")
    assert stored(app)["rodzaj"] == "skarga"


def test_an_ended_session_never_writes_into_someone_elses_draft(app: Flask, client: FlaskClient,
                                                               catalog: None) -> None:
    jan_step, _ = open_letter(client)
    anna = app.test_client()
    login_resident(anna, "92051702482")
    token = csrf_token(anna, "/konto")
    age_session(app, anna, idle=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=61))
    anna.post(jan_step, data={"csrf_token": token, **TYPED})
    assert "tytul" not in stored(app) or stored(app)["tytul"] != "Hałas z budowy nocą"
