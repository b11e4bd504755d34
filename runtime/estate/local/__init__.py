"""The local estate: real servers as local processes on 127.0.0.1, TLS from a generated CA."""
from estate.local.estate import LocalEstate

__all__ = ["LocalEstate"]
