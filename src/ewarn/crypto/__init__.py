"""Low-level cryptographic primitives shared by the store and the stages (no imports of higher layers)."""
