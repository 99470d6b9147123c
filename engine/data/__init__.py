"""The local market-data catalog: candles a trader owns, as memory-mapped Arrow IPC files.

``catalog`` (files, coverage, atomic writes, verification), ``feed`` (the catalog as an exchange),
``download`` (filling it from a ccxt exchange, resumable) and ``imports`` (CSV and synthetic)."""

from .catalog import Catalog, CatalogError, Coverage, Gap, Verdict, verify_columns

__all__ = ["Catalog", "CatalogError", "Coverage", "Gap", "Verdict", "verify_columns"]
