"""The training half: the training loop (``loop``), its config and schedule, augmentation,
distributed set-up and learning curves.

Nothing is imported here, so that a command can import its parts without torch."""
