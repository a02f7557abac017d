"""The REST API (FastAPI) for hospital SOCs, CSIRTs and operators."""
