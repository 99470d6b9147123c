"""Broker documents in the live state folder: order records of a pair, the paper account, the
account book (breakers, equity curve, fills) of a broker.

They go through the same store as the signal state (``engine.persist``: one atomic write per
document, the state folder lock held by the live run, a damaged document moved to quarantine and
its pair held until a person looks). They are written at once, not through the tick's write
queue: an order intent must be on disk *before* the order is sent (README "Orders and accounts").

The JSON shapes are the dataclasses of ``base.py`` as plain objects (``intent_to_dict`` and back);
a document with the wrong shape is quarantined when its store opens.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..persist.adapters import PersistSignalAdapter, _Domain, base_dir
from ..persist.quarantine import held_documents
from .base import Fill, OrderIntent, OrderReport

__all__ = [
    "BrokerDomain",
    "account_docs",
    "fill_from_dict",
    "held_orders",
    "intent_from_dict",
    "order_docs",
    "paper_docs",
    "report_from_dict",
    "report_to_dict",
]

_INTENT_FIELDS = tuple(f.name for f in dataclasses.fields(OrderIntent))
_FILL_FIELDS = tuple(f.name for f in dataclasses.fields(Fill))


def intent_from_dict(value: dict[str, Any]) -> OrderIntent:
    missing = [k for k in _INTENT_FIELDS if k not in value]
    if missing:
        raise ValueError(f"order intent without {', '.join(missing)}")
    if value["action"] not in ("entry", "exit", "stop") or value["side"] not in ("buy", "sell"):
        raise ValueError(f"order intent {value.get('client_order_id')!r}: bad action or side")
    amount = value["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
        raise ValueError(f"order intent {value.get('client_order_id')!r}: amount must be > 0, found {amount!r}")
    return OrderIntent(**{k: value[k] for k in _INTENT_FIELDS})


def fill_from_dict(value: dict[str, Any]) -> Fill:
    missing = [k for k in _FILL_FIELDS if k not in value]
    if missing:
        raise ValueError(f"fill without {', '.join(missing)}")
    return Fill(**{k: value[k] for k in _FILL_FIELDS})


def report_to_dict(report: OrderReport) -> dict[str, Any]:
    return {
        "intent": dataclasses.asdict(report.intent),
        "status": report.status,
        "filled": report.filled,
        "average": report.average,
        "exchange_order_id": report.exchange_order_id,
        "reason": report.reason,
        "fills": [dataclasses.asdict(f) for f in report.fills],
        "timestamp": report.timestamp,
    }


_STATUSES = ("intent", "open", "partially_filled", "filled", "cancelled", "rejected")


def report_from_dict(value: Any) -> OrderReport:
    if not isinstance(value, dict) or not isinstance(value.get("intent"), dict):
        raise ValueError(f"expected an order record with an intent, found {value!r:.80}")
    if value.get("status") not in _STATUSES:
        raise ValueError(f"order record: status must be one of {', '.join(_STATUSES)}, found {value.get('status')!r}")
    filled = value.get("filled", 0.0)
    if isinstance(filled, bool) or not isinstance(filled, int | float) or filled < 0:
        raise ValueError(f"order record: filled must be a number >= 0, found {filled!r}")
    return OrderReport(
        intent=intent_from_dict(value["intent"]),
        status=value["status"],
        filled=float(filled),
        average=value.get("average"),
        exchange_order_id=value.get("exchange_order_id"),
        reason=str(value.get("reason") or ""),
        fills=tuple(fill_from_dict(f) for f in value.get("fills") or ()),
        timestamp=int(value.get("timestamp") or 0),
    )


def check_orders(value: Any) -> None:
    """``{"orders": [record, ...]}``: every record must read back (``report_from_dict``)."""
    if not isinstance(value, dict) or not isinstance(value.get("orders"), list):
        raise ValueError("expected {'orders': [...]}")
    seen: set[str] = set()
    for record in value["orders"]:
        report = report_from_dict(record)
        if report.intent.client_order_id in seen:
            raise ValueError(f"order {report.intent.client_order_id} is listed twice")
        seen.add(report.intent.client_order_id)


def check_object(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, found {type(value).__name__}")


class BrokerDomain(_Domain):
    """A ``_Domain`` that follows ``set_base_dir`` (its stores are opened again under a new base)
    and the signal state's storage class (``PersistSignalAdapter.use_adapter``)."""

    def __init__(self, domain: str, validate: Any) -> None:
        super().__init__(domain, validate)
        self._base: Path | None = None

    async def store(self, entity: str) -> Any:
        here = Path(os.path.abspath(base_dir()))
        if self._base != here:
            self.forget()
            self._base = here
        self._cls = PersistSignalAdapter._cls  # a custom store (use_adapter) keeps these documents too
        return await super().store(entity)

    async def read(self, entity: str, entity_id: str, default: Any) -> Any:
        return await self._read(entity, entity_id, default)

    async def write(self, entity: str, entity_id: str, value: Any) -> None:
        await self._write(entity, entity_id, value)


order_docs = BrokerDomain("order", check_orders)  # order/<symbol>_<strategy>/orders.json
paper_docs = BrokerDomain("paper", check_object)  # paper/<broker name>/account.json
account_docs = BrokerDomain("account", check_object)  # account/<broker name>/book.json


def held_orders(symbol: str, strategy_name: str, broker_name: str) -> list[Path]:
    """Quarantined broker documents that hold trading of this pair: its order records, and the
    paper account and book of its broker."""
    entities = [f"order/{symbol}_{strategy_name}", f"paper/{broker_name}", f"account/{broker_name}"]
    return held_documents(base_dir(), entities)


def forget_broker_stores() -> None:
    """Open no store from before (tests, ``reset_engine``)."""
    for domain in (order_docs, paper_docs, account_docs):
        domain.forget()
        domain._base = None
