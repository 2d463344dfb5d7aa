"""Bridges to tools datavc users already run (Kubeflow Pipelines); each behind an optional extra."""
