"""End-to-end quickstart (placeholder until the versioning API lands)."""

print("quickstart: coming")
