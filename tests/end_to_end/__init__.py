"""End to end per service: the CLI (reconciler.cli.main) against the service's fake over HTTP."""
