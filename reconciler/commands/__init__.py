"""One module per command (validate, plan, apply, show, export, schema, serve), each a
plain function returning its exit code; `options`, `inputs` and `views` are what they
share. The click wiring is cli.py; turning exceptions into exit codes is error_handler.py.
"""
