"""Loading and validating routes.yaml: YAML with marks, ${VAR} references, diagnostics."""
