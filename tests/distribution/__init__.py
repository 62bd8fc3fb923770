"""What ships around the package: the GitHub Action, the CWL tools, the CI examples, the
distribution itself."""
