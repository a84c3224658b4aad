"""`from forensics.ingest import ingest`: the store's ingest, where notebooks and scripts have always
found it (its work lives in `forensics.store.ingest`)."""

from .store.ingest import ingest
from .store.record import IngestReport

__all__ = ["IngestReport", "ingest"]
