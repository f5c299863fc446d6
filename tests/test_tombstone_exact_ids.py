"""Tombstones follow the exact canonical id (letter case kept, `c001` is another customer): an
erasure strips that id from later imports and only that id, `lift` lifts that id's tombstone and
no other, and an id that only looks like an erased one is taken in but counted
(`looks_like_erased`) for the operator to check."""
from __future__ import annotations

import pandas as pd
import pytest

from churn_workbench import config, db, pseudonyms
from churn_workbench.errors import UsageError
from churn_workbench.subjects import tombstones


@pytest.fixture
def settings(tmp_path):
    s = config.Settings(data_dir=tmp_path / "data", audit_dir=tmp_path / "audit")
    with db.session(s.db_path):
        pass
    return s


def _refs(s):
    return pseudonyms.SubjectRefs(s.subject_key_file, None, s.subject_keystore)


def _tombstone(s, cid):
    with db.session(s.db_path) as con, db.transaction(con):
        assert tombstones.add(con, _refs(s), cid)


def _strip(s, ids):
    with db.session(s.db_path) as con:
        kept, _, _, counts = tombstones.strip(con, _refs(s), pd.DataFrame({"customer_id": ids}),
                                              pd.DataFrame({"customer_id": pd.Series([], dtype=object)}),
                                              pd.DataFrame({"customer_id": pd.Series([], dtype=object)}))
    return list(kept["customer_id"]), counts


def test_reimport_strips_the_erased_id_only_and_counts_lookalikes(settings):
    _tombstone(settings, "c0000041")
    kept, counts = _strip(settings, ["C0000041", "c0000041", "\u04210000041", "C0000042"])
    assert kept == ["C0000041", "\u04210000041", "C0000042"]
    assert counts["customers"] == 1 and counts["looks_like_erased"] == 2


def test_lift_of_a_never_erased_case_variant_is_refused_and_keeps_the_tombstone(settings):
    _tombstone(settings, "c0000041")
    with pytest.raises(UsageError, match="C0000041: no active tombstone under this exact id"):
        tombstones.lift(settings, "C0000041")
    assert _strip(settings, ["c0000041"])[0] == []
    assert tombstones.lift(settings, "c0000041")["lifted"] == 1
    kept, counts = _strip(settings, ["c0000041", "C0000041"])
    assert kept == ["c0000041", "C0000041"] and counts["looks_like_erased"] == 0
