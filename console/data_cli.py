"""``btk-console data ...``: fill, list and check the local candle catalog (``engine/data``).

    data download --exchange E --symbol S [--symbol ...] --from DATE [--to DATE]
    data update [--exchange E] [--symbol S ...]
    data list [--exchange E]
    data import FILE.csv --symbol S [--exchange csv]
    data import --synthetic --symbol S --from DATE --to DATE [--seed 42] [--exchange synthetic]
    data verify [--exchange E] [--symbol S ...]

The catalog is ``data/`` beside btk.toml (``--config``, else ./btk.toml; the working directory
without one), or ``--data-dir``. ``--exchange`` names a ``kind = "ccxt"`` exchange of btk.toml (its
options are used: URLs, sandbox, rate limits) or else a ccxt id; its files go to ``<data>/<E>/``.
Progress goes to stderr: a rich bar per symbol on a terminal, one line per finished chunk otherwise
(what scripts and tests read). Exit codes: 0 ok, 1 a download or a check failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from engine import MINUTE_MS, Catalog, CatalogError
from engine import CatalogCoverage as Coverage
from engine import iso_minute as iso
from engine import read_catalog_file as read_file
from engine import verify_candle_columns as verify_columns

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_FEED_KEYS = ("exchange_id", "sandbox", "symbols", "max_per_call", "max_retries", "backoff_ms", "log_requests")


class DataUsageError(Exception):
    """A bad command line or project: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise DataUsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="btk-console data", description="the local candle catalog")
    p.add_argument("--config", default=None, help="a btk.toml (default: ./btk.toml if present)")
    p.add_argument("--data-dir", default=None, help="the catalog folder (default: data/ beside btk.toml)")
    sub = p.add_subparsers(dest="action", parser_class=_Parser, required=True)
    dl = sub.add_parser("download", help="download closed 1m candles from a ccxt exchange")
    dl.add_argument("--exchange", required=True)
    dl.add_argument("--symbol", action="append", required=True)
    dl.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD or an ISO datetime (UTC)")
    dl.add_argument("--to", dest="end", default=None, help="exclusive (default: now)")
    up = sub.add_parser("update", help="download what is new for the symbols in the catalog")
    up.add_argument("--exchange", action="append")
    up.add_argument("--symbol", action="append")
    for q in (dl, up):
        q.add_argument("--max-retries", type=int, default=None, help="retries per request (default 8)")
        q.add_argument("--backoff-ms", type=float, default=None, help="first retry wait, doubling (default 1000)")
    ls = sub.add_parser("list", help="coverage and gaps per symbol")
    ls.add_argument("--exchange", action="append")
    im = sub.add_parser("import", help="convert a CSV file (or the synthetic market) into the catalog")
    im.add_argument("file", nargs="?", default=None)
    im.add_argument("--symbol", action="append")
    im.add_argument("--exchange", default=None, help='catalog folder (default "csv", or "synthetic")')
    im.add_argument("--synthetic", action="store_true")
    im.add_argument("--seed", type=int, default=42)
    im.add_argument("--from", dest="start", default=None)
    im.add_argument("--to", dest="end", default=None)
    vf = sub.add_parser("verify", help="check candles: SPEC 3.5 sanity, ascending, no duplicates")
    vf.add_argument("--exchange", action="append")
    vf.add_argument("--symbol", action="append")
    return p


# --------------------------------------------------------------------------- helpers


def parse_when(text: str, flag: str) -> int:
    """UTC ms of ``YYYY-MM-DD`` (midnight) or an ISO datetime (naive = UTC)."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            when = datetime(d.year, d.month, d.day, tzinfo=UTC)
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        raise DataUsageError(
            f"{flag} {text!r}: expected YYYY-MM-DD or an ISO datetime such as 2024-01-31T12:00Z"
        ) from None
    return int(when.timestamp() * 1000)


def _project(config: str | None) -> tuple[Path | None, dict[str, Any]]:
    path = Path(config) if config else Path("btk.toml")
    if path.is_dir():
        path = path / "btk.toml"
    if not path.is_file():
        if config:
            raise DataUsageError(f"{config}: no btk.toml there")
        return None, {}
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataUsageError(f"{path}: {exc}") from None


def _catalog(args: argparse.Namespace, project: Path | None) -> Catalog:
    if args.data_dir:
        return Catalog(Path(args.data_dir))
    return Catalog((project.parent if project else Path(".")) / "data")


def _feed(name: str, toml: dict[str, Any], args: argparse.Namespace) -> Any:
    """A ``CcxtFeed`` for ``name``: a btk.toml ccxt exchange's options, or a plain ccxt id."""
    from engine import CcxtFeed

    table = dict((toml.get("exchanges") or {}).get(name) or {})
    if table and table.get("kind") != "ccxt":
        raise DataUsageError(f'exchange {name} in btk.toml is kind = "{table.get("kind")}"; downloads need a ccxt one')
    table.pop("kind", None)
    table.pop("note", None)
    table.pop("cache", None)  # how backtests read this exchange, not a download option
    feed_args = {k: table.pop(k) for k in _FEED_KEYS if k in table}
    exchange_id = feed_args.pop("exchange_id", name)
    feed_args.setdefault("max_retries", 8)
    if args.max_retries is not None:
        feed_args["max_retries"] = args.max_retries
    if args.backoff_ms is not None:
        feed_args["backoff_ms"] = args.backoff_ms
    try:
        return CcxtFeed(exchange_id, config=table, **feed_args)
    except ValueError as exc:
        raise DataUsageError(str(exc)) from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class _Progress:
    """A rich bar per symbol on a terminal; a plain line per finished chunk otherwise."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.rich = None
        self.tasks: dict[str, Any] = {}
        if err.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} candles"),
                TextColumn("{task.fields[mb]}"),
                TimeRemainingColumn(),
                console=Console(file=err),
            )
            self.rich.start()

    def chunk(self, done: Any) -> None:
        if self.rich is not None:
            task = self.tasks.get(done.symbol)
            if task is None:
                task = self.tasks[done.symbol] = self.rich.add_task(done.symbol, total=done.total_minutes, mb="")
            self.rich.update(task, completed=done.done_minutes, mb=_mb(done.bytes_written))
        else:
            self.err.write(
                f"{done.symbol} {iso(done.start_ms)}..{iso(done.end_ms)}: {done.done_minutes}/{done.total_minutes} "
                f"minutes, {done.candles} candles, {_mb(done.bytes_written)}\n"
            )
            self.err.flush()

    def stop(self) -> None:
        if self.rich is not None:
            self.rich.stop()


def _summary(cov: Coverage | None) -> str:
    if cov is None or cov.first_ms is None:
        return "no candles"
    gaps = len(cov.gaps)
    confirmed = sum(g.confirmed for g in cov.gaps)
    return (
        f"{cov.rows} candles {iso(cov.first_ms)}..{iso(cov.last_ms + MINUTE_MS)}, "
        f"{gaps} gap(s) ({confirmed} confirmed by the exchange)"
    )


# --------------------------------------------------------------------------- actions


async def _download(
    catalog: Catalog, exchange: str, feed: Any, jobs: list[tuple[str, int, int | None]], out: TextIO, err: TextIO
) -> int:
    from engine import download_symbol

    progress = _Progress(err)
    failed = 0
    try:
        for symbol, start, end in jobs:
            try:
                cov = await download_symbol(catalog, exchange, feed, symbol, start, end, on_chunk=progress.chunk)
            except Exception as exc:  # one symbol failing does not stop the others
                failed += 1
                err.write(f"btk-console data: {exchange} {symbol}: {exc}\n")
                continue
            out.write(f"{exchange} {symbol}: {_summary(cov)}\n")
    finally:
        progress.stop()
        await feed.close()
    return EXIT_FAILED if failed else EXIT_OK


def cmd_download(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project, toml = _project(args.config)
    catalog = _catalog(args, project)
    start = parse_when(args.start, "--from")
    end = parse_when(args.end, "--to") if args.end else None
    if end is not None and end <= start:
        raise DataUsageError(f"--to {args.end} is not after --from {args.start}")
    feed = _feed(args.exchange, toml, args)
    jobs = [(s, start, end) for s in args.symbol]
    return asyncio.run(_download(catalog, args.exchange, feed, jobs, out, err))


def cmd_update(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project, toml = _project(args.config)
    catalog = _catalog(args, project)
    code = EXIT_OK
    for exchange in args.exchange or catalog.exchanges():
        symbols = args.symbol or catalog.symbols(exchange)
        jobs = []
        for symbol in symbols:
            cov = read_file(catalog.path(exchange, symbol)).coverage
            jobs.append((symbol, cov.end_ms or 0, None))
        if not jobs:
            continue
        try:
            feed = _feed(exchange, toml, args)
        except DataUsageError as exc:
            err.write(f"btk-console data update: {exchange}: skipped ({exc})\n")
            continue
        code = max(code, asyncio.run(_download(catalog, exchange, feed, jobs, out, err)))
    return code


def cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project, _ = _project(args.config)
    catalog = _catalog(args, project)
    shown = 0
    for exchange in args.exchange or catalog.exchanges():
        for symbol in catalog.symbols(exchange):
            path = catalog.path(exchange, symbol)
            cov = read_file(path).coverage
            shown += 1
            out.write(f"{exchange} {symbol} 1m: {_summary(cov)}; {_mb(path.stat().st_size)}; source {cov.source}\n")
            for a, b in cov.spans[1:]:
                out.write(f"  also covers {iso(a)}..{iso(b)}\n")
            for g in cov.gaps:
                how = "confirmed by the exchange" if g.confirmed else "not confirmed"
                out.write(f"  gap {iso(g.start_ms)}..{iso(g.end_ms)} ({g.minutes} min, {how})\n")
            if catalog.parts_dir(exchange, symbol).is_dir():
                out.write("  an unfinished download: run the same download (or data update) again to finish it\n")
    if not shown:
        out.write(f"the catalog {catalog.root} is empty (btk-console data download / data import fill it)\n")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from engine import import_csv_into_catalog as import_csv
    from engine import import_synthetic_into_catalog as import_synthetic

    project, _ = _project(args.config)
    catalog = _catalog(args, project)
    if args.synthetic:
        if args.file or not args.symbol or not args.start or not args.end:
            raise DataUsageError("import --synthetic takes --symbol S [--symbol ...] --from DATE --to DATE, no file")
        start, end = parse_when(args.start, "--from"), parse_when(args.end, "--to")
        exchange = args.exchange or "synthetic"
        for symbol in args.symbol:
            cov = import_synthetic(catalog, exchange, symbol, start, end, seed=args.seed)
            out.write(f"{exchange} {cov.symbol}: {_summary(cov)}\n")
        return EXIT_OK
    if not args.file:
        raise DataUsageError("import takes FILE.csv --symbol S, or --synthetic")
    if args.symbol and len(args.symbol) > 1:
        raise DataUsageError("import FILE.csv takes one --symbol")
    exchange = args.exchange or "csv"
    cov = import_csv(catalog, exchange, args.file, args.symbol[0] if args.symbol else None)
    out.write(f"{exchange} {cov.symbol}: {_summary(cov)}\n")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project, _ = _project(args.config)
    catalog = _catalog(args, project)
    bad = checked = 0
    for exchange in args.exchange or catalog.exchanges():
        for symbol in args.symbol or catalog.symbols(exchange):
            path = catalog.path(exchange, symbol)
            verdict = verify_columns(read_file(path).columns, str(path))
            checked += 1
            if verdict.ok:
                out.write(f"{exchange} {symbol}: ok ({verdict.rows} candles)\n")
            else:
                bad += 1
                for problem in verdict.problems:
                    out.write(f"{exchange} {symbol}: {problem}\n")
    if not checked:
        out.write(f"nothing to verify in {catalog.root}\n")
    return EXIT_FAILED if bad else EXIT_OK


ACTIONS = {"download": cmd_download, "update": cmd_update, "list": cmd_list, "import": cmd_import, "verify": cmd_verify}


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(list(argv))
        return ACTIONS[args.action](args, out, err)
    except (DataUsageError, CatalogError) as exc:  # bad usage: exit 2; a file or data problem: exit 1
        usage = isinstance(exc, DataUsageError)
        err.write(f"btk-console data: {'error: ' if usage else ''}{exc}\n")
        return EXIT_USAGE if usage else EXIT_FAILED
