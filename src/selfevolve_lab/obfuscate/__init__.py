"""obfuscate stage."""
