"""Transferable text-code sequential recommendation: library code (no CLI, no paths)."""
__version__ = "0.1.0"
