"""Renderers: each turns a finished plan (or an apply report) into the text of one
format (text, json, markdown, github); none reads or writes anything."""
