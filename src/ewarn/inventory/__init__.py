"""The asset inventory: validation, storage-side services, bulk importers and change notification."""
