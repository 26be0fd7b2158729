"""``agent disk backtest``: replay fleet SMART history through the real parser, state and rules."""
