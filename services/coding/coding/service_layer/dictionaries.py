"""The reference tables (代码表) as the API serves them: the catalogue, a page of one table, one region with its
ancestors and children. Computed from the tables in memory (``coding.domain.dictionary_views``); open to every
caller."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.dictionaries import Dictionaries, DictionaryError

from coding.domain.dictionary_views import DictionaryQuery, catalogue, query_dictionary, region_detail
from coding.domain.errors import DictionaryEntryNotFoundError, DictionaryNotFoundError


class DictionaryViews:
    def __init__(self, dictionaries: Dictionaries) -> None:
        self.dictionaries = dictionaries

    def catalogue(self) -> dict[str, Any]:
        return catalogue(self.dictionaries)

    def dictionary(self, name: str, query: DictionaryQuery) -> dict[str, Any]:
        try:
            table = self.dictionaries.by_name(name)
        except KeyError as exc:
            raise DictionaryNotFoundError(name=name, available="、".join(self.dictionaries.names)) from exc
        try:
            return query_dictionary(table, query)
        except DictionaryError as exc:  # shared.dictionaries' own error: an unknown parent region
            raise DictionaryEntryNotFoundError(dictionary=name, code=query.parent, reason=exc.message) from exc

    def region(self, code: str, valid_on: date | None) -> dict[str, Any]:
        try:
            return region_detail(self.dictionaries.regions, code, valid_on)
        except DictionaryError as exc:
            raise DictionaryEntryNotFoundError(dictionary="regions", code=code, reason=exc.message) from exc
