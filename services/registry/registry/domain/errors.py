"""The registry's errors: every expected failure of the service, under :class:`RegistryError`.

Each carries keyword context (it fills the Chinese message and becomes the answer's ``details``); registry/errors.py
maps each class to its HTTP status, stable code and message. The rules raise or return them; so do the service
layer (an import too large, a job someone else started) and the file adapters (a file that cannot be read)."""

from __future__ import annotations

from shared.errors import DomainError

from registry.domain.problems import Problem


class RegistryError(DomainError):
    """Base of the registry's errors (mapped to HTTP in registry/errors.py)."""


# ---- items --------------------------------------------------------------------------------------------------------
class ItemNotFoundError(RegistryError):
    """No such item in the registry (or outside the caller's regions)."""


class RevisionNotFoundError(RegistryError):
    """The item has no such revision."""


class RevisionRequiredError(RegistryError):
    """A change was sent without If-Match: the caller must say which revision it changes."""


class MalformedRevisionError(RegistryError):
    """If-Match is not a revision number."""


class SourceRefTakenError(RegistryError):
    """Another item in the region already has this source_ref (with different content)."""


class ElementsInvalidError(RegistryError):
    """One or more elements broke a rule; ``problems`` lists them all (as dicts) and ``count`` says how many."""

    @classmethod
    def of(cls, problems: list[Problem]) -> ElementsInvalidError:
        return cls(count=len(problems), problems=[p.as_dict() for p in problems])


class ItemCancelledError(RegistryError):
    """The item is cancelled (注销期): its content can no longer change."""


class InvalidCursorError(RegistryError):
    """The cursor was not produced by this API (or the filters changed shape)."""


# ---- imports ------------------------------------------------------------------------------------------------------
class ImportJobNotFoundError(RegistryError):
    """No such import job (or it belongs to someone else)."""


class ImportTooLargeError(RegistryError):
    """The upload exceeds the configured size limit."""


class UnsupportedFormatError(RegistryError):
    """Neither xlsx, csv nor ndjson."""


class MalformedUploadError(RegistryError):
    """A form upload (multipart/form-data) that cannot be read: no boundary, no ``file`` field, cut short."""


class ImportFileError(RegistryError):
    """The file cannot be read as an item list at all (format, encoding, missing columns)."""


class ImportFileTooLargeError(ImportFileError):
    """An xlsx that would expand beyond what an import may hold in memory (a zip bomb, a cell or a sheet far beyond
    any item list): refused before a spreadsheet library reads it. ``limit`` names the bound it broke."""
