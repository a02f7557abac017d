"""ewarn: near-real-time early warning of cyber threats for hospitals and healthcare providers."""

__version__ = "0.1.0"
