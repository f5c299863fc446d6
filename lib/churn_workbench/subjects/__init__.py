"""Data-subject rights: access (`export_subject`), erasure (`forget`, with tombstones that keep
an erased id out of later imports until `lift`), and storage limitation (`purge`).

Each operation is one audited transaction on the store; none of them rewrites an audit artefact
(executed notebooks and manifests hold no per-customer data by design). Where customer data
lives -- tables, and the files the workbench writes, recorded as it writes them -- is kept in
one place, registry.py; every input carrying customer ids passes one tombstone check,
tombstones.admit. The README's
"Data-protection officer's guide" describes them for their users.
"""
from __future__ import annotations

from .erase import forget
from .export import export_subject
from .retention import purge
from .tombstones import lift

__all__ = ["export_subject", "forget", "lift", "purge"]
