"""The base of the project's own errors: a problem with the user's input, config or artifacts.

Commands report these as one line (file, line or key, and what to do) and exit with 2; any
other exception is a bug and keeps its traceback.
"""


class ProjectError(Exception):
    """Base of ConfigError, DataError and ArtifactError."""


class ArtifactError(ProjectError, RuntimeError):
    """A missing, incomplete or mismatching artifact."""
