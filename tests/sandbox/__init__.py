"""Tests of reconciler/sandbox/ (the fakes over real HTTP), and the official clients against them."""
