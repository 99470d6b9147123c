"""A deterministic synthetic crypto market: demo data and test fixture in one.

Every candle is a pure function of ``(seed, symbol, open time)``. That is what lets the engine
fetch candles in any chunking and cache them (DESIGN 3), and what makes a demo or a test
reproducible on any machine. Nothing here uses Python's salted ``hash()`` or global random state.

How a price path is built (all vectorised with numpy, no per-candle Python):

* **Daily anchors.** For each UTC day since 2000-01-01 the log-price at midnight is one step of a
  mean-reverting random walk around the symbol's base price, pushed by a slowly changing drift
  (trends that last weeks) and scaled by a daily volatility regime (calm and wild spells lasting
  days). These ~36.5k values per symbol are computed once, from the fixed origin, and cached.
* **Intraday volatility.** A smooth multiplier defined on absolute time: the daily regime
  interpolated between midnights, value noise with knots every 2 h and 8 h (clusters lasting
  hours), a little 15-minute noise, a UTC intraday profile (Europe and US sessions busier) and
  quieter weekends. Because it depends on absolute time only, it is continuous across days.
* **Minutes.** Each day is a bridge of heteroskedastic, Laplace-distributed (fat-ish tailed)
  minute steps from its midnight anchor to the next one; the endpoint correction is spread in
  proportion to the cumulative variance so calm hours stay calm. Random numbers come from a
  PCG64 stream seeded by ``(seed, symbol, block)`` where a block is 16 whole days counted from
  the origin, so a block's content never depends on who asked for it.
* **Candles.** Prices are rounded to the symbol's tick on the minute boundaries, so the open of
  minute t is exactly the close of minute t-1. Wicks are exponential excursions scaled by the
  local volatility and rounded outwards; volume grows with volatility, with the size of the move
  and with the wicks. ``low <= min(open, close) <= max(open, close) <= high``, all prices are at
  least one tick, volume > 0.

Reproducibility: the streams are numpy's PCG64 bit generator and SeedSequence (whose outputs
numpy keeps stable across versions) plus a SplitMix64 hash written here; the maths is plain IEEE
arithmetic plus exp, log and cos. Those three may differ in the last bit between CPU code paths
(numpy's AVX-512, AVX2 and baseline loops do), which the rounding to a tick absorbs: the candles
were checked to be bit-identical on all three paths. A flip would need an exact half-tick
coincidence (odds around 1e-9 per price).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.exchanges.aggregate import MinuteFeed
from engine.model import MINUTE_MS, CandleColumns

__all__ = ["SYNTHETIC_END_MS", "SYNTHETIC_START_MS", "SyntheticFeed"]

SYNTHETIC_START_MS = 946_684_800_000
"""2000-01-01T00:00:00Z: the first minute the synthetic market has."""
SYNTHETIC_END_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: the synthetic market ends just before this instant."""

DAY_MINUTES = 1440
BLOCK_DAYS = 16
"""Days generated together: large enough to amortise numpy call overhead, small enough (23k
minutes, ~180 KB per array) to stay in the CPU cache while it is built."""
BLOCK_MINUTES = BLOCK_DAYS * DAY_MINUTES
_N_DAYS = (SYNTHETIC_END_MS - SYNTHETIC_START_MS) // (DAY_MINUTES * MINUTE_MS)
_N_BLOCKS = -(-_N_DAYS // BLOCK_DAYS)
_N_ANCHORS = _N_BLOCKS * BLOCK_DAYS + 2  # one past the last block's end, plus interpolation room

_QUARTER = 15  # minutes per intraday-volatility knot
_QUARTERS_PER_DAY = DAY_MINUTES // _QUARTER
_MASK64 = (1 << 64) - 1

# Model parameters (BTCUSDT scale; other symbols multiply the volatility by their profile's scale).
_SIGMA_MINUTE = 0.00055  # typical 1m log-return standard deviation
_REGIME_PHI, _REGIME_STD = 0.8, 0.35  # daily log-volatility regime: AR(1) over days
_TREND_PHI, _TREND_STD = 0.97, 0.004  # daily drift: AR(1) over days, fraction per day
_REVERSION = 1.0 / 90.0  # pull of the daily log-price towards the base price, per day
_OCTAVES = ((8, 0.30), (32, 0.25))  # (knot spacing in quarters, log-vol std): 2 h and 8 h clusters
_QUARTER_NOISE_STD = 0.12
_WEEKEND_LOG_VOL = -0.25
_WICK_SCALE = 0.4  # wick length beyond the body, in units of the minute's volatility
_WICK_NONE_FACTOR = math.exp(0.15)  # shifts the wick's exponential: ~14 % of sides get no wick
_MEAN_EXCURSION = math.exp(-0.15)  # E[max(X - 0.15, 0)] for X ~ Exp(1)
_VOLUME_SCALE = 1e4  # volume is rounded to 4 decimals


def _intraday_profile() -> np.ndarray:
    """Log-volatility offset per quarter hour of the UTC day: busy around the European morning
    and the US open/afternoon, a smaller bump at the Asian open, quiet in between."""
    hours = np.arange(_QUARTERS_PER_DAY) / 4.0

    def bump(centre: float, width: float) -> np.ndarray:
        d = np.abs(hours - centre)
        d = np.minimum(d, 24.0 - d)  # circular: 23:00 is close to 01:00
        return np.exp(-0.5 * (d / width) ** 2)

    return 0.45 * bump(14.5, 1.8) + 0.2 * bump(8.0, 1.2) + 0.12 * bump(1.0, 1.5) - 0.18


_INTRADAY = _intraday_profile()
# Ratio between a day's standard deviation and sqrt(1440) minute sigmas, so the daily anchors
# have about the same volatility as the minutes that bridge them (lognormal octave variance,
# with 2/3 for the variance lost by linear interpolation between knots).
_OCTAVE_VAR = sum(s * s for _, s in _OCTAVES) * 2.0 / 3.0 + _QUARTER_NOISE_STD**2 * 2.0 / 3.0
_DAY_RMS = math.sqrt(float(np.mean(np.exp(2.0 * _INTRADAY))) * math.exp(2.0 * _OCTAVE_VAR))

# SplitMix64 constants.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)


# --------------------------------------------------------------------------- symbols


@dataclass(frozen=True, slots=True)
class _Profile:
    """What makes one symbol's market its own: identity, price level, tick, activity."""

    name: str
    key: int  # 64-bit identity derived from the name (stable across processes)
    base_price: float
    decimals: int  # tick = 10 ** -decimals
    vol_scale: float  # multiplies the BTC-scale volatility
    volume_base: float  # typical volume per minute, in base-asset units


_KNOWN: dict[str, tuple[float, int, float, float]] = {
    # name: (base price, tick decimals, volatility scale, notional traded per minute in USD)
    "BTCUSDT": (42_000.0, 2, 1.0, 600_000.0),
    "ETHUSDT": (2_300.0, 2, 1.25, 300_000.0),
    "SOLUSDT": (100.0, 2, 1.6, 120_000.0),
}


def _digest64(*parts: object) -> int:
    """A stable 64-bit integer from any parts (blake2b; never the salted built-in ``hash``)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def normalize_symbol(symbol: str) -> str:
    """Upper-case letters and digits only, so ``btc/usdt`` and ``BTCUSDT`` are one market."""
    name = re.sub(r"[^A-Z0-9]", "", str(symbol).upper())
    if not name:
        raise ValueError(f"synthetic feed: symbol {symbol!r} has no letters or digits")
    return name


@lru_cache(maxsize=1024)
def _profile(symbol: str) -> _Profile:
    """The symbol's market profile: the three demo symbols are pinned near their real levels,
    any other symbol gets a price between 1 and 1000 and an activity level from its digest."""
    name = normalize_symbol(symbol)
    key = _digest64("btk-synthetic-symbol", name)
    if name in _KNOWN:
        price, decimals, vol_scale, notional = _KNOWN[name]
    else:
        u1, u2, u3 = (((key >> shift) & 0xFFFF) / 65536.0 for shift in (0, 16, 32))
        price = float(f"{10.0 ** (3.0 * u1):.4g}")  # log-uniform in [1, 1000), 4 significant digits
        decimals = 4 - math.floor(math.log10(price))  # about five significant digits per tick
        vol_scale = 1.0 + u2
        notional = 20_000.0 * 10.0**u3
    return _Profile(name, key, price, decimals, vol_scale, notional / price)


# --------------------------------------------------------------------------- random numbers


@lru_cache(maxsize=4096)
def _stream_key(seed: int, symbol_key: int, stream: str) -> int:
    """The 64-bit key of one counter-based stream of a market (cached: asked for every block)."""
    return _digest64("btk-synthetic-stream", seed & _MASK64, symbol_key, stream)


def _hash_uniform_pair(key: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent uniforms in (0, 1) per index: SplitMix64 of (key, index), split in halves.

    A counter-based generator, so the value at an index never depends on which other indexes
    are asked for. Used for knots that straddle block boundaries."""
    z = (index.astype(np.uint64) + np.uint64(key)) * _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return _uniform_hi32(z), _uniform_lo32(z)


def _uniform_hi32(raw: np.ndarray) -> np.ndarray:
    """Uniforms strictly inside (0, 1) from the high 32 bits of each word (2**-32 resolution:
    enough for the tails used here, e.g. a Laplace shock of at most ~15 standard deviations)."""
    u = (raw >> np.uint64(32)).astype(np.float64)
    u += 0.5
    u *= 2.0**-32
    return u


def _uniform_lo32(raw: np.ndarray) -> np.ndarray:
    """Uniforms strictly inside (0, 1) from the low 32 bits of each word."""
    u = (raw & _LOW32).astype(np.float64)
    u += 0.5
    u *= 2.0**-32
    return u


def _normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normals by Box-Muller: written out here so the values never depend on numpy's
    choice of normal sampler."""
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _laplace(raw: np.ndarray) -> np.ndarray:
    """Unit-variance Laplace variates (kurtosis 6: fat-ish tails), one per 64-bit word, as the
    difference of two exponentials: log(u1 / u2) / sqrt(2) with u1, u2 the word's halves (their
    common 2**-32 scale cancels). One log per value, cheaper than an inverse CDF."""
    x = (raw >> np.uint64(32)).astype(np.float64)
    x += 0.5
    y = (raw & _LOW32).astype(np.float64)
    y += 0.5
    x /= y
    np.log(x, out=x)
    x *= math.sqrt(0.5)
    return x


def _pcg_raw(seed: int, symbol_key: int, stream: int, index: int, count: int) -> np.ndarray:
    """``count`` raw 64-bit words of a PCG64 stream owned by (seed, symbol, stream, index)."""
    entropy = [seed & _MASK64, symbol_key, stream, index]
    return np.random.PCG64(np.random.SeedSequence(entropy)).random_raw(count)


def _knot_noise(key: int, first: int, count: int) -> np.ndarray:
    """Standard normals at knot indexes ``first .. first + count - 1``."""
    u1, u2 = _hash_uniform_pair(key, np.arange(first, first + count, dtype=np.int64))
    return _normal(u1, u2)


# --------------------------------------------------------------------------- daily anchors


def _ar1(innovations: np.ndarray, phi: float, start: float) -> np.ndarray:
    """x[0] = start, x[i+1] = phi * x[i] + innovations[i], for ~36k days at once.

    A Hillis-Steele prefix scan: after the step with shift s every value holds its last 2s terms,
    so 16 elementwise passes replace a sequential loop. Only separate multiplies and adds are
    used (no BLAS, no fused kernels), so the result is the same on every machine."""
    x = np.concatenate(([float(start)], innovations))
    shift, weight = 1, float(phi)
    while shift < x.shape[0]:
        x[shift:] += weight * x[:-shift]
        shift, weight = shift * 2, weight * weight
    return x


@dataclass(frozen=True, slots=True)
class _Daily:
    """Per (seed, symbol): values at each UTC midnight since the origin."""

    log_anchor: np.ndarray  # log price at midnight of day d
    regime: np.ndarray  # log-volatility regime at midnight of day d


def _weekend(days: np.ndarray) -> np.ndarray:
    """1.0 for Saturdays and Sundays (day 0 of the origin, 2000-01-01, was a Saturday)."""
    return (days % 7 < 2).astype(np.float64)


@lru_cache(maxsize=16)  # ~0.6 MB each
def _daily(seed: int, symbol: str) -> _Daily:
    """The daily skeleton of a market, computed once from the fixed origin so that any day's
    anchor is the same however the data is requested."""
    prof = _profile(symbol)
    n = _N_ANCHORS
    raw = _pcg_raw(seed, prof.key, 0, 0, 3 * n)
    z_regime = _normal(_uniform_hi32(raw[:n]), _uniform_lo32(raw[:n]))
    z_trend = _normal(_uniform_hi32(raw[n : 2 * n]), _uniform_lo32(raw[n : 2 * n]))
    z_move = _laplace(raw[2 * n :])

    regime_innov = _REGIME_STD * math.sqrt(1.0 - _REGIME_PHI**2) * z_regime[1:]
    regime = _ar1(regime_innov, _REGIME_PHI, _REGIME_STD * float(z_regime[0]))
    trend_std = _TREND_STD * prof.vol_scale
    trend_innov = trend_std * math.sqrt(1.0 - _TREND_PHI**2) * z_trend[1:]
    trend = _ar1(trend_innov, _TREND_PHI, trend_std * float(z_trend[0]))

    days = np.arange(n - 1)
    day_sigma = (
        _SIGMA_MINUTE * prof.vol_scale * math.sqrt(DAY_MINUTES) * _DAY_RMS
        * np.exp(0.5 * (regime[:-1] + regime[1:]) + _WEEKEND_LOG_VOL * _weekend(days))
    )  # fmt: skip
    move_innov = trend[:-1] + day_sigma * z_move[:-1]
    log_dev = _ar1(move_innov, 1.0 - _REVERSION, 0.0)
    return _Daily(log_anchor=math.log(prof.base_price) + log_dev, regime=regime)


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True, slots=True)
class _Block:
    """16 days of candles. ``path`` holds the rounded price at every minute boundary (one more
    than minutes), so ``open = path[:-1]`` and ``close = path[1:]`` share memory and agree."""

    path: np.ndarray
    high: np.ndarray
    low: np.ndarray
    volume: np.ndarray


def _interp_knots(values: np.ndarray, index: np.ndarray, spacing: int, first_knot: int) -> np.ndarray:
    """Linear interpolation at ``index`` of knot values placed every ``spacing`` units,
    ``values[0]`` sitting at knot ``first_knot``."""
    k = index // spacing
    w = (index - k * spacing) / spacing
    j = k - first_knot
    return values[j] * (1.0 - w) + values[j + 1] * w


def _quarter_sigma(seed: int, prof: _Profile, daily: _Daily, block: int) -> np.ndarray:
    """Minute volatility at each 15-minute knot of the block (both ends included), from
    components defined on absolute time so neighbouring blocks agree at their shared knot."""
    q0 = block * BLOCK_MINUTES // _QUARTER
    q = np.arange(q0, q0 + BLOCK_MINUTES // _QUARTER + 1, dtype=np.int64)
    d0 = q0 // _QUARTERS_PER_DAY
    day = q // _QUARTERS_PER_DAY
    log_vol = _interp_knots(daily.regime[d0 : d0 + BLOCK_DAYS + 2], q, _QUARTERS_PER_DAY, d0)
    for spacing, std in _OCTAVES:
        k0 = q0 // spacing
        count = (int(q[-1]) // spacing) - k0 + 2
        knots = std * _knot_noise(_stream_key(seed, prof.key, f"octave{spacing}"), k0, count)
        log_vol += _interp_knots(knots, q, spacing, k0)
    log_vol += _QUARTER_NOISE_STD * _knot_noise(_stream_key(seed, prof.key, "quarter"), q0, q.shape[0])
    log_vol += _INTRADAY[q % _QUARTERS_PER_DAY] + _WEEKEND_LOG_VOL * _weekend(day)
    return _SIGMA_MINUTE * prof.vol_scale * np.exp(log_vol)


_MINUTE_WEIGHTS = np.arange(_QUARTER, dtype=np.float64) / _QUARTER


def _per_minute(knots: np.ndarray) -> np.ndarray:
    """Per-minute values, linear between the 15-minute knots (``len(knots) - 1`` quarters)."""
    left = knots[:-1, None]
    right = knots[1:, None]
    return (left + (right - left) * _MINUTE_WEIGHTS).ravel()


def _bridge_into(out: np.ndarray, anchors: np.ndarray, steps: np.ndarray, variance: np.ndarray) -> None:
    """Write the log price at the end of every minute into ``out``: each day's steps, bent so
    the day ends exactly on the next anchor. The correction goes where the variance is (a
    Gaussian bridge with heteroskedastic steps), and the last minute of a day closes on the
    anchor bit for bit. ``steps`` and ``variance`` are consumed (used as scratch space)."""
    days = anchors.shape[0] - 1
    path = out.reshape(days, DAY_MINUTES)
    np.cumsum(steps.reshape(days, DAY_MINUTES), axis=1, out=path)
    cum_var = variance.reshape(days, DAY_MINUTES)
    np.cumsum(cum_var, axis=1, out=cum_var)
    gap = (anchors[1:] - anchors[:-1]) - path[:, -1]
    cum_var *= (gap / cum_var[:, -1])[:, None]
    path += cum_var
    path += anchors[:-1, None]
    path[:, -1] = anchors[1:]


def _generate_block(seed: int, symbol: str, block: int) -> _Block:
    """Build the 23,040 candles of one block in a few dozen numpy passes (two random words per
    minute: one for the move, one for the two wicks, which also set the volume's noise)."""
    prof = _profile(symbol)
    daily = _daily(seed, symbol)
    n = BLOCK_MINUTES
    sigma = _per_minute(_quarter_sigma(seed, prof, daily, block))
    raw = _pcg_raw(seed, prof.key, 1, block, 2 * n)
    shocks = _laplace(raw[:n])

    d0 = block * BLOCK_DAYS
    anchors = daily.log_anchor[d0 : d0 + BLOCK_DAYS + 1]
    log_path = np.empty(n + 1)
    log_path[0] = anchors[0]
    _bridge_into(log_path[1:], anchors, sigma * shocks, sigma * sigma)

    scale = float(10**prof.decimals)
    ticks = np.exp(log_path)
    ticks *= scale
    np.rint(ticks, out=ticks)
    np.maximum(ticks, 1.0, out=ticks)
    up, down = _excursions(raw[n:])
    volume = _volume(prof, sigma, shocks, up + down)
    high, low = _wick_ticks(ticks, sigma, up, down)

    for a in (ticks, high, low):
        a /= scale  # a division (not a multiplication by 0.01) gives the exact decimal's double
    return _Block(path=_frozen(ticks), high=_frozen(high), low=_frozen(low), volume=_frozen(volume))


def _excursions(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower wick sizes in units of the minute's volatility, as *negative* numbers
    (log of a uniform; negated later with the scale). Each is an exponential shifted down by
    0.15 and floored at zero, so ~14 % of candle sides have no wick, as real 1m candles often do."""
    out = []
    for u in (_uniform_hi32(raw), _uniform_lo32(raw)):
        u *= _WICK_NONE_FACTOR
        np.minimum(u, 1.0, out=u)
        np.log(u, out=u)
        out.append(u)
    return out[0], out[1]


def _wick_ticks(
    ticks: np.ndarray, sigma: np.ndarray, up: np.ndarray, down: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """High and low in ticks: the body's ends pushed out by the excursions scaled by the minute's
    volatility, rounded to whole ticks away from the body so the candle stays valid whatever the
    tick. ``up`` and ``down`` are consumed."""
    reach = sigma * -_WICK_SCALE  # the excursions are negative
    high = np.maximum(ticks[:-1], ticks[1:])
    low = np.minimum(ticks[:-1], ticks[1:])
    for body, excursion in ((high, up), (low, down)):
        excursion *= reach
        excursion *= body
        np.rint(excursion, out=excursion)
    high += up
    low -= down
    np.maximum(low, 1.0, out=low)
    return high, low


def _volume(prof: _Profile, sigma: np.ndarray, shocks: np.ndarray, wicks: np.ndarray) -> np.ndarray:
    """Volume per minute: the symbol's typical volume, times the local volatility (busy hours
    trade more), times the size of the minute's move, times noise that grows with the candle's
    wicks (``wicks`` is the sum of the two negative excursions; it is consumed). Rounded to 4
    decimals and never below 0.0001, so it is always positive."""
    volume = np.abs(shocks)
    volume *= 0.7
    volume += 0.5
    wicks *= -0.65 / (2.0 * _MEAN_EXCURSION)  # noise with mean 1: 0.35 + 0.65 * wicks / E[wicks]
    wicks += 0.35
    volume *= wicks
    volume *= sigma
    volume *= prof.volume_base * _VOLUME_SCALE / (_SIGMA_MINUTE * prof.vol_scale)
    np.rint(volume, out=volume)
    np.maximum(volume, 1.0, out=volume)
    volume /= _VOLUME_SCALE
    return volume


def _frozen(a: np.ndarray) -> np.ndarray:
    """Mark a cached array read-only: callers get views of it, and must not edit the cache."""
    a.setflags(write=False)
    return a


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms")) + "Z"


# --------------------------------------------------------------------------- the feed


class SyntheticFeed(MinuteFeed):
    """Deterministic candles for any symbol and any minute from 2000-01-01 to 2100-01-01 UTC.

    ``seed`` picks one of many possible markets; the same seed gives the same candles on every
    machine and in every process. Generated 16-day blocks are kept in an LRU cache of about
    ``cache_days`` days over all symbols (~32 bytes per minute: 768 days is ~35 MB), so a year
    of backtest re-reads without regenerating while memory stays bounded.
    """

    def __init__(self, seed: int = 42, *, cache_days: int = 768) -> None:
        self.seed = int(seed)
        self._max_blocks = max(1, -(-int(cache_days) // BLOCK_DAYS))
        self._blocks: OrderedDict[tuple[str, int], _Block] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SyntheticFeed(seed={self.seed})"

    # ----------------------------------------------------------------- feed interface

    def symbols(self) -> list[str]:
        """The demo symbols with realistic price levels (any letters/digits symbol works)."""
        return list(_KNOWN)

    def format_price(self, symbol: str, price: float) -> str:
        """The symbol's tick decimals (2 for the demo symbols and anything priced above 100),
        and for prices below 1 at least four significant digits."""
        decimals = max(2, _profile(symbol).decimals)
        magnitude = abs(float(price))
        if 0.0 < magnitude < 1.0:
            decimals = max(decimals, 3 - math.floor(math.log10(magnitude)))
        return f"{float(price):.{decimals}f}"

    def format_quantity(self, symbol: str, quantity: float) -> str:
        """Six decimals: the synthetic market has no lot size, and 1e-6 of the priciest demo
        asset (BTC) is a few cents, finer than any order a strategy would size."""
        return f"{float(quantity):.6f}"

    def tick_size(self, symbol: str) -> float:
        """The price step every synthetic price of ``symbol`` is a multiple of."""
        return 10.0 ** -_profile(symbol).decimals

    # ----------------------------------------------------------------- generation

    def _minutes(self, symbol: str, start_ms: int, end_ms: int) -> CandleColumns:
        name = normalize_symbol(symbol)
        if start_ms < SYNTHETIC_START_MS or end_ms > SYNTHETIC_END_MS:
            raise ValueError(
                f"synthetic feed covers {_iso(SYNTHETIC_START_MS)} to {_iso(SYNTHETIC_END_MS)} "
                f"(exclusive); asked for {_iso(start_ms)} to {_iso(end_ms)} ({name})"
            )
        first = (start_ms - SYNTHETIC_START_MS) // MINUTE_MS
        stop = (end_ms - SYNTHETIC_START_MS) // MINUTE_MS
        parts = [
            self._block_slice(name, block, first, stop)
            for block in range(first // BLOCK_MINUTES, (stop - 1) // BLOCK_MINUTES + 1)
        ]
        timestamp = np.arange(start_ms, end_ms, MINUTE_MS, dtype=np.int64)
        if len(parts) == 1:
            return CandleColumns(timestamp, *parts[0])
        columns = [np.concatenate(column) for column in zip(*parts)]
        return CandleColumns(timestamp, *columns)

    def _block_slice(
        self, name: str, block: int, first: int, stop: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(open, high, low, close, volume) views of one block cut to minutes [first, stop)."""
        data = self._block(name, block)
        base = block * BLOCK_MINUTES
        lo = max(first - base, 0)
        hi = min(stop - base, BLOCK_MINUTES)
        return (
            data.path[lo:hi],
            data.high[lo:hi],
            data.low[lo:hi],
            data.path[lo + 1 : hi + 1],
            data.volume[lo:hi],
        )

    def _block(self, name: str, block: int) -> _Block:
        """A generated block from the LRU cache, generating it (outside the lock) if needed."""
        key = (name, block)
        with self._lock:
            found = self._blocks.get(key)
            if found is not None:
                self._blocks.move_to_end(key)
                return found
        data = _generate_block(self.seed, name, block)
        with self._lock:
            self._blocks[key] = data
            self._blocks.move_to_end(key)
            while len(self._blocks) > self._max_blocks:
                self._blocks.popitem(last=False)
        return data
