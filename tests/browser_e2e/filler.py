"""Fills any service of the catalog in the browser, driven by its definition (catalog/<slug>/usluga.yaml).

One walker for every service instead of a script per form: it reads the step the portal shows from the
address, answers that step's questions by their visible labels (so a label that is not tied to its input
fails the test), follows the portal's own choice of the next step, and attaches a file wherever the
service asks for one. Where a question decides what is asked later, it picks the answer that opens the
most conditional questions, steps and attachments, so the conditions are walked too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from portal.forms import wtf
from portal.forms.definitions import ATTACHMENTS_STEP, Field, ServiceDefinition, read_folder
from tests.browser import REPO, AccessibilityAudit, attach_button
from tests.desk.conftest import a_pdf as one_page_pdf

CATALOG = REPO / "catalog"
# Answers a type-based sample would not satisfy: the schema's pattern for a land parcel number.
EXAMPLES = {"nr_dzialki": "123/4"}


def catalog_services() -> list[str]:
    return sorted(folder.name for folder in CATALOG.iterdir() if (folder / "usluga.yaml").exists())


def a_pdf(path: Path) -> Path:
    path.write_bytes(one_page_pdf(f"Załącznik {path.name}"))
    return path


class FormFiller:
    def __init__(self, slug: str, examples: dict[str, str] | None = None) -> None:
        """`examples`: answers to type instead of the samples (the guides' pictures read better with them)."""
        self.definition: ServiceDefinition = read_folder(CATALOG / slug).definition
        self.examples = {**EXAMPLES, **(examples or {})}
        self.answers: dict[str, Any] = {}
        self.attached: list[str] = []
        self.typed: list[str] = []  # what was typed into text boxes, to be found again on the summary
        self.steps_seen: list[str] = []
        # How many conditions (of questions, steps and attachments) each answer of a question opens.
        self.opens: Counter[tuple[str, str]] = Counter()
        conditions = [f.show_if for f in self._all_fields()] + [s.show_if for s in self.definition.steps] + \
            [a.show_if for a in self.definition.attachments]
        for condition in filter(None, conditions):
            for value in condition.values:
                self.opens[(condition.field, value)] += 1

    @property
    def title(self) -> str:
        return self.definition.title["pl"]

    def _all_fields(self) -> list[Field]:
        return list(self.definition.fields) + [sub for f in self.definition.fields for sub in f.fields]

    def shown(self, spec: Any) -> bool:
        return spec.show_if is None or spec.show_if.holds(self.answers)

    def choose(self, spec: Field) -> str:
        """The answer that opens the most conditions; the first one when none opens anything."""
        best = max(spec.choices, key=lambda c: self.opens[(spec.id, c.value)])
        return best.value

    def sample(self, spec: Field) -> str:
        if spec.id in self.examples:
            return self.examples[spec.id]
        later = 30 if spec.not_before else 14
        low, high = wtf.date_range(spec) if spec.type == "date" else (None, None)
        day = min(max(date.today() + timedelta(days=later), low or date.min), high or date.max)
        by_type = {
            "text": f"Przykład: {spec.label['pl']}"[: spec.max_length or 200],
            "textarea": f"Opis do pola „{spec.label['pl']}” wpisany w teście przeglądarkowym.",
            "date": day.isoformat(),
            "email": "jan.kowalski@example.pl",
            "postcode": "64-100",
            "phone": "+48 600 100 200",
            "number": "2",
            "decimal": "12,5",
        }
        return by_type[spec.type]

    def answer(self, scope: Any, spec: Field) -> Any:
        """Answer one question inside `scope` (the page, or one item of a repeating group)."""
        label = spec.label["pl"]
        if spec.type == "choice":
            value = self.choose(spec)
            choice = next(c for c in spec.choices if c.value == value)
            scope.get_by_role("group", name=label, exact=True).get_by_label(choice.label["pl"], exact=True).check()
            return value
        if spec.type == "select":
            value = self.choose(spec)
            scope.get_by_label(label, exact=True).select_option(value)
            return value
        if spec.type == "checkbox":
            scope.get_by_label(label, exact=True).check()
            return True
        field = scope.get_by_label(label, exact=True)
        prefilled = field.input_value()
        if spec.prefill and prefilled:
            return prefilled  # what login.gov.pl told the portal stays as it came
        value = self.sample(spec)
        field.fill(value)
        if spec.type in ("text", "textarea"):
            self.typed.append(value)
        return value

    def fill_step(self, page: Any, step_id: str) -> None:
        step = self.definition.step(step_id)
        assert step is not None, f"the portal showed a step the definition does not have: {step_id}"
        for spec in step.fields:
            if spec.compute or not self.shown(spec):
                continue
            if spec.is_group:
                item = page.locator(f"#{spec.id}-0")
                self.answers[spec.id] = [{sub.id: self.answer(item, sub) for sub in spec.fields}]
            else:
                self.answers[spec.id] = self.answer(page, spec)

    def attach(self, page: Any, pdf: Path) -> None:
        """Attach the file to every attachment the service requires of this resident."""
        for rule in self.definition.attachments:
            if not rule.required or not self.shown(rule):
                continue
            what = rule.label["pl"].lower()
            page.get_by_label(f"Wybierz plik: {what}").set_input_files(str(pdf))
            attach_button(page, what).click()  # type: ignore[attr-defined]
            assert not page.locator(".error-summary").count(), self._errors(page)
            self.attached.append(rule.label["pl"])

    def walk_to_summary(self, page: Any, audit: AccessibilityAudit, pdf: Path,
                        before_next: Callable[[Any, str], None] | None = None) -> None:
        """From the first step to the summary, every step checked by axe; `before_next(page, step_id)` runs
        on each filled step just before "Dalej" (for screenshots)."""
        while "/krok/" in page.url:
            step_id = page.url.split("/krok/")[1].split("?")[0].split("#")[0]
            assert step_id not in self.steps_seen, f"the form came back to {step_id}: {self._errors(page)}"
            self.steps_seen.append(step_id)
            if step_id == ATTACHMENTS_STEP:
                self.attach(page, pdf)
            else:
                self.fill_step(page, step_id)
            audit.check(page)
            if before_next:
                before_next(page, step_id)
            page.get_by_role("button", name="Dalej", exact=True).click()
            page.wait_for_load_state()
            assert not page.locator(".error-summary").count(), self._errors(page)
        assert page.url.endswith("/podsumowanie"), page.url
        expected = [s.id for s in self.definition.steps if self.shown(s)] + \
            ([ATTACHMENTS_STEP] if any(self.shown(rule) for rule in self.definition.attachments) else [])
        assert self.steps_seen == expected, (self.steps_seen, expected)

    @staticmethod
    def _errors(page: Any) -> str:
        summary = page.locator(".error-summary")
        return summary.inner_text() if summary.count() else page.url
