"""Budget-aware tuning: NOMAD over training hyperparameters, and pruned proxies.

Nothing is imported here, so that a command can import its parts without torch."""
