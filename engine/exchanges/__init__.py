"""Built-in candle feeds: ``synthetic`` (a deterministic demo market), ``csv_feed`` (1m CSV files)
and ``aggregate`` (the 1m -> Nm aggregation and ``get_candles`` contract they share).

Nothing is imported here, so ``import engine.exchanges.synthetic`` stays light and the registry
(``register.py``) can import the feeds lazily.
"""
