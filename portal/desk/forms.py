"""The desk's forms. Each has its own prefix: a case page holds several, and their ids must differ."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

REQUIRED = _l("To pole jest wymagane.")


class AssignForm(FlaskForm):
    unit = SelectField(_l("Komórka"), validators=[InputRequired(REQUIRED)])
    clerk = SelectField(_l("Pracownik (nieobowiązkowo)"), coerce=str)


class RegisterCaseForm(FlaskForm):
    title = StringField(_l("Tytuł sprawy"), validators=[DataRequired(REQUIRED), Length(max=400)],
                        description=_l("Zwykle nazwa usługi; możesz ją doprecyzować."))


class AttachForm(FlaskForm):
    case = SelectField(_l("Sprawa"), coerce=int, validators=[InputRequired(REQUIRED)])


class StatusForm(FlaskForm):
    status = RadioField(_l("Nowy stan"), choices=[
        SelectChoice("in_progress", _l("W toku")), SelectChoice("postponed", _l("Odłożona")),
        SelectChoice("suspended", _l("Zawieszona")), SelectChoice("resumed", _l("Wznowiona"))],
        validators=[InputRequired(REQUIRED)])
    reason = TextAreaField(_l("Powód"), validators=[DataRequired(REQUIRED), Length(max=2000)],
                           description=_l("Mieszkaniec zobaczy go w przebiegu sprawy."))


class SupplementForm(FlaskForm):
    message = TextAreaField(_l("Czego brakuje"), validators=[DataRequired(REQUIRED), Length(max=2000)],
                            description=_l("Napisz prostym językiem, co mieszkaniec ma uzupełnić."))
    due = DateField(_l("Termin na uzupełnienie"), validators=[InputRequired(_l("Podaj datę."))],
                    description=_l("Co najmniej 7 dni od dziś (art. 64 § 2 KPA)."))


class DelayForm(FlaskForm):
    reason = TextAreaField(_l("Przyczyna zwłoki"), validators=[DataRequired(REQUIRED), Length(max=2000)])
    new_date = DateField(_l("Nowy termin załatwienia sprawy"), validators=[InputRequired(_l("Podaj datę."))])


class LetterForm(FlaskForm):
    kind = RadioField(_l("Rodzaj pisma"), choices=[SelectChoice("answer", _l("Odpowiedź lub inne pismo")),
                                                   SelectChoice("decision", _l("Decyzja lub inne rozstrzygnięcie"))],
                      default="answer", validators=[InputRequired(REQUIRED)])
    title = StringField(_l("Tytuł pisma"), validators=[DataRequired(REQUIRED), Length(max=400)])
    summary = TextAreaField(_l("Rozstrzygnięcie w jednym zdaniu (dla decyzji)"), validators=[Length(max=2000)])
    file = FileField(_l("Podpisany plik (PDF z podpisem PAdES albo XML z podpisem XAdES)"),
                     validators=[FileRequired(_l("Wybierz plik."))])


class CloseForm(FlaskForm):
    reason = TextAreaField(_l("Jak sprawa została załatwiona"), validators=[DataRequired(REQUIRED),
                                                                          Length(max=2000)])
