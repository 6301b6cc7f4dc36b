"""User-facing error types: each names the problem so a log line or CLI message is enough to fix it."""


class GnmNavError(Exception):
    """Base of every error that is the input's fault (bad file, bad message, bad parameter)."""


class ModelFileError(GnmNavError):
    """A model file or model card is missing, corrupt or does not match what is expected."""


class CheckpointError(GnmNavError):
    """A training checkpoint cannot be read safely or does not match the architecture."""


class ImageDecodeError(GnmNavError):
    """An image message cannot be decoded to RGB (unknown encoding, wrong size or step...)."""


class GraphError(GnmNavError):
    """A graph directory is missing, corrupt, of another format version, or a query on it is invalid."""


class DatasetError(GnmNavError):
    """A dataset or bag does not have the expected layout or content."""
