"""Tests of reconciler/render/: one renderer per module."""
