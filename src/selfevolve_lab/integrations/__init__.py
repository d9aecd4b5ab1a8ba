"""Bridges to other training engines (verl)."""
