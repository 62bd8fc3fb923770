"""Guarantees of the command line that cut across modules: bad input, exit codes, secrets
never shown, what a terminal sees, what new users tripped over (issue 27)."""
