"""Imported once by the audit's fork server, before it forks the worker processes.

It builds the dlib models (HOG detector, landmark predictors; about a second each to deserialise), so
every worker forked from the server starts with them: dlib objects are plain memory and safe to fork.
The ONNX networks are not touched here; each worker loads its own sessions.
"""

from castgate.audit.image import shared_models

shared_models().warm_dlib()
