"""Declarative schemas of the estate's stores."""
