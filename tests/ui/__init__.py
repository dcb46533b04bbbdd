"""The console: Textual Pilot, pinned screens (snapshots) and real terminals."""
