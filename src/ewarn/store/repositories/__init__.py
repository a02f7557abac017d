"""Typed, keyword-only repository functions, session first."""
