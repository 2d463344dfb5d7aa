"""Pipelines: specs, datums, triggers, jobs and their executors."""
