"""A slow, literal reference implementation of the backtest semantics (SPEC 3-7, 9-10), written
from the SPEC alone, for differential tests against the engine."""
