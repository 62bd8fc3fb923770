"""Tests of reconciler/providers/: test_<module>.py per provider module (the fakes over loopback HTTP)."""
