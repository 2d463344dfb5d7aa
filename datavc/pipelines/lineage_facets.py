"""Datavc's custom OpenLineage facets (imported only when OpenLineage is configured).

OpenLineage lets a producer add facets of its own, named with a prefix (``datavc_``) and
pointing at their schema. These carry what the standard facets have no field for: a
job's datum counts and commit ids, a dataset's commit, branch and commit set.
"""

from __future__ import annotations

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet

#: Where these facets' fields are documented (docs/integrations.md, "OpenLineage").
FACET_SCHEMA = "https://pypi.org/project/datavc/#openlineage-facets"


@attr.define
class DatavcJobRunFacet(RunFacet):
    """One datavc job: its id, pipeline version, commit set, commits and datum counts."""

    jobId: str  # camelCase: OpenLineage facet field names
    pipelineVersion: int
    commitSetId: str | None
    inputCommits: dict[str, str]
    outputCommitId: str | None
    datumsTotal: int
    datumsProcessed: int
    datumsSkipped: int
    datumsFailed: int

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMA + "/DatavcJobRunFacet"


@attr.define
class DatavcCommitDatasetFacet(DatasetFacet):
    """The datavc commit a dataset (repo) was read at or written as."""

    repo: str
    branch: str
    commitId: str
    commitSetId: str | None

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMA + "/DatavcCommitDatasetFacet"
