"""Which customer a data-subject command means: the id in canonical form, held under exactly that id.

A look-alike id (another case, full-width digits, a Cyrillic letter) is another customer: the
command is refused and the held look-alikes are named, so an access request never returns
someone else's data and an erasure never removes half of one customer and half of another.
"""
from __future__ import annotations

import duckdb

from ..errors import UsageError
from ..pseudonyms import SubjectRefs
from . import tombstones
from ..boundary.text import shown
from .holdings import holds_anything, lookalike_ids


def resolve(con: duckdb.DuckDBPyConnection, refs: SubjectRefs, cid: str) -> None:
    """Refuse (UsageError) an id nothing is held under; name the look-alike ids that are held."""
    if holds_anything(con, cid) or refs.known([cid])[0]:
        return
    others = lookalike_ids(con, cid)
    if others:
        held = ", ".join(repr(o) for o in others)
        raise UsageError(f"customer {cid!r}: nothing is held under this exact id, but {held} differs from it only in "
                         "case, width or look-alike characters; ids are exact: repeat the command with the id as stored")
    state = "already erased" if tombstones.is_tombstoned(con, refs, cid) else "unknown customer"
    raise UsageError(f"customer {shown(cid)}: no data held about this customer ({state})")
