"""Run engine: documents, subscribers, the worker thread, abort, and the safe state."""
