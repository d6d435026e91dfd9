"""Budget-aware tuning: NOMAD's variables (``space``), its driver (``driver``), the trial
objective (``objective``) and pruned proxies (``pruning``).

Nothing is imported here, so that a command can import its parts without torch."""
