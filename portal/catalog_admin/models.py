"""What the catalog editor keeps beside the published versions (`portal.forms.models.EService`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class WorkingCopy(db.Model):  # type: ignore[name-defined]
    """A service as the catalog administrator is editing it: nothing a resident sees until it is published."""

    __tablename__ = "catalog_working_copy"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    # The definition as `usluga.yaml` holds it (docs/catalog.md), and the service's own XSD.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    schema_xsd: Mapped[str] = mapped_column(Text)
    # Schemas the XSD imports or includes that are not the vendored CRWDE ones, by the name its
    # schemaLocation gives ({"wspolne/typy.xsd": "<xs:schema …>"}): uploaded beside it, never fetched.
    schema_files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    based_on_version: Mapped[str | None] = mapped_column(String(50))  # the published version it was copied from
    updated_by: Mapped[str] = mapped_column(String(100))  # the clerk's username
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CatalogEntry(db.Model):  # type: ignore[name-defined]
    """A service's place in the catalog: its order, its group, whether it is retired. One row per slug, kept
    apart from the versions so that reordering or retiring never needs a new version."""

    __tablename__ = "catalog_entry"

    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    group: Mapped[dict[str, str] | None] = mapped_column(JSON)  # {"pl": …, "en": …}; None: ungrouped
    # Retired: no new drafts; drafts already started may still be finished and filed.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_by: Mapped[str | None] = mapped_column(String(100))
