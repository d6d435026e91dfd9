"""The training half: the training loop (``loop``: ``Trainer`` and ``train``), its config
and schedule (``config``), checkpoint, metrics writer, data loading, augmentation,
distributed set-up and learning curves.

Nothing is imported here, so that a command can import its parts without torch."""
