"""Did the change work: A/B read-outs, the statistics behind them, power."""
