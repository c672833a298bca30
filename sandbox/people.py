"""Demo accounts of the sandbox: residents with PESEL numbers and addresses, and the office's clerks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    pesel: str
    given_name: str
    family_name: str
    birth_date: str
    street: str
    building: str
    flat: str | None
    postcode: str
    town: str
    loa: str = "substantial"
    e_delivery_address: str | None = None  # the resident's e-Doręczenia mailbox (adres do doręczeń elektronicznych)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def address_claim(self) -> dict[str, str]:
        """The OIDC `address` claim, with the parts a Polish address needs kept apart."""
        claim = {
            "street_address": f"{self.street} {self.building}" + (f"/{self.flat}" if self.flat else ""),
            "street": self.street,
            "building": self.building,
            "locality": self.town,
            "postal_code": self.postcode,
            "country": "PL",
        }
        if self.flat:
            claim["flat"] = self.flat
        return claim


@dataclass(frozen=True)
class Clerk:
    username: str
    name: str
    unit: str
    roles: tuple[str, ...] = field(default=("clerk",))


RESIDENTS = [
    Person("80010112357", "Jan", "Kowalski", "1980-01-01", "ul. Słowiańska", "12", "4", "64-100", "Leszno",
           e_delivery_address="AE:PL-20384-51637-JKOWA-42"),
    Person("92051702482", "Anna", "Nowak", "1992-05-17", "Rynek", "5", None, "64-100", "Leszno", "high",
           e_delivery_address="AE:PL-58213-40961-ANOWA-08"),
    Person("01230804662", "Zofia", "Łęcka-Żółtowska", "2001-03-08", "ul. Święciechowska", "7", None, "64-100",
           "Leszno"),
    Person("75113001574", "Piotr", "Wiśniewski", "1975-11-30", "ul. Narutowicza", "71", "2", "64-100", "Leszno"),
]

@dataclass(frozen=True)
class ForeignPerson:
    """A citizen of another EU country signing in through eIDAS: no PESEL."""

    identifier: str
    given_name: str
    family_name: str
    birth_date: str
    country: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


FOREIGN = [ForeignPerson("DE/PL/7HQ4-2211-KM", "Klaus", "Müller", "1969-04-02", "Niemcy")]

CLERKS = [
    Clerk("k.zielinska", "Katarzyna Zielińska", "OR", ("registry_clerk", "clerk")),
    Clerk("m.wojcik", "Marek Wójcik", "OR", ("clerk",)),
    Clerk("e.kaczmarek", "Ewa Kaczmarek", "OR", ("head_of_unit", "clerk")),
    Clerk("t.lewandowski", "Tomasz Lewandowski", "MZDiI", ("clerk",)),
    Clerk("admin", "Administrator Portalu", "OR", ("admin",)),
    Clerk("b.mazur", "Barbara Mazur", "OR", ("catalog_admin",)),
]


@dataclass(frozen=True)
class Office:
    name: str
    nip: str
    e_delivery_address: str


# The office's own e-Doręczenia mailbox; its API client is the portal (client credentials).
OFFICE = Office("Urząd Miasta Leszna", "6970011183", "AE:PL-41058-29316-UMLES-17")

# Only the first two demo residents have an e-Doręczenia address, so the portal's fallback is visible too.
E_DELIVERY_RESIDENTS = [p for p in RESIDENTS if p.e_delivery_address]


def resident(pesel: str) -> Person | None:
    return next((p for p in RESIDENTS if p.pesel == pesel), None)


def clerk(username: str) -> Clerk | None:
    return next((c for c in CLERKS if c.username == username), None)
