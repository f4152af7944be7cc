"""Pure domain of the coding service: item codes (事项编码), name codes and service codes.

The rules live in :mod:`coding.domain.codes`; the package re-exports exactly its public names."""

from coding.domain import codes as _codes
from coding.domain.codes import *  # noqa: F403 - the package's public face is codes' __all__

__all__ = list(_codes.__all__)
