"""Tests of reconciler/commands/: test_<command>.py per command module."""
