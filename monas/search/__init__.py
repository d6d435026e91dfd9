"""The search half: one NSGA-II run (``driver.run``) and what it owns: problem, operators,
evaluation, runners, objectives, front, the run folder (``record``), plot and picks.

Nothing is imported here, so that a command can import its parts without torch."""
