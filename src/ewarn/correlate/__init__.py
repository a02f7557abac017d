"""Correlation: match indicators against every provider's assets, score, one alert per threat and asset."""
