"""Cheaper pickling of the engine's event objects on the worker's pipe (issue 14 item 2).

The engine's results and rows are frozen, slotted dataclasses. Pickle handles those through the
``__getstate__`` / ``__setstate__`` that ``dataclasses`` gives a slotted class, and both call
``dataclasses.fields()`` for every object: a third of a busy worker's time went into sending its
batches, and unpickling them was a good part of the console's. Here each such class gets a
reducer on ``multiprocessing``'s pickler only (so the engine's own files are untouched): its
fields' values as one tuple (``operator.attrgetter``, in C) and, on the console's side, a builder
made once per class that writes each slot directly. The state is the same as before (every
field, in declaration order), so the objects that come out equal the ones that went in.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from multiprocessing.reduction import ForkingPickler
from operator import attrgetter
from types import MemberDescriptorType
from typing import Any

__all__ = ["fast_classes", "rebuild", "register"]

_builders: dict[type, Callable[..., Any]] = {}


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _builder(cls: type) -> Callable[..., Any]:
    """A function of the fields' values, in declaration order, that returns the object: each
    slot written through its own descriptor (a frozen class refuses ``setattr``)."""
    names = _names(cls)
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = []
    for n, name in enumerate(names):
        slot = next(k.__dict__[name] for k in cls.__mro__ if isinstance(k.__dict__.get(name), MemberDescriptorType))
        ns[f"_set{n}"] = slot.__set__
        body.append(f"    _set{n}(self, v{n})")
    params = ", ".join(f"v{n}" for n in range(len(names)))
    exec(f"def build({params}):\n    self = _new(_cls)\n" + "\n".join(body) + "\n    return self\n", ns)
    return ns["build"]


def rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """The object of class ``cls`` whose fields hold ``values`` (what ``register``'s reducer sent)."""
    build = _builders.get(cls)
    if build is None:
        build = _builders[cls] = _builder(cls)
    return build(*values)


def _reducer(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = _names(cls)
    get = attrgetter(*names)
    if len(names) == 1:
        return lambda obj: (rebuild, (cls, (get(obj),)))
    return lambda obj: (rebuild, (cls, get(obj)))


def _plain_slotted(cls: object) -> bool:
    """A slotted dataclass pickled the dataclasses way (its own pickling is left alone)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__):
        return False
    if any(k in cls.__dict__ for k in ("__reduce__", "__reduce_ex__", "__getnewargs__", "__getnewargs_ex__")):
        return False
    for hook in ("__getstate__", "__setstate__"):
        if getattr(getattr(cls, hook, None), "__module__", None) != "dataclasses":
            return False
    try:
        _builder(cls)  # every field has its own slot
    except StopIteration:
        return False
    return bool(_names(cls))


def fast_classes(prefix: str = "engine") -> list[type]:
    """The plain slotted dataclasses of the loaded modules named ``prefix`` or under it."""
    found: dict[type, None] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == prefix or name.startswith(prefix + ".")):
            continue
        for value in list(vars(module).values()):
            if _plain_slotted(value):
                found[value] = None
    return list(found)


def register(classes: Iterable[type] | None = None) -> int:
    """Give ``classes`` (default: the engine's) the reducer on ``multiprocessing``'s pickler;
    returns how many."""
    chosen = fast_classes() if classes is None else list(classes)
    for cls in chosen:
        ForkingPickler.register(cls, _reducer(cls))
    return len(chosen)
