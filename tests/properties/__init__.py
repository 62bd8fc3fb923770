"""Property-based tests (hypothesis) over several modules at once."""
