"""Small Dagster code locations that the production-mode tests load in real code servers."""
