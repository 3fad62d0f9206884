"""CSV exports of entries and reports over HTTP, streamed, with the API's filters."""

from __future__ import annotations

from gql.export.routes import Exports

__all__ = ["Exports"]
