"""The Textual terminal UI (``advisor tui``): advise, calibrate and inspect. No logic of its own."""
