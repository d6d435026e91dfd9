"""The monas commands: ``common`` holds what they share, one module per command.

Nothing is imported here, so that a command can import its parts without torch."""
