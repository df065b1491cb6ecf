"""Code shared by every feature. Nothing in here imports from a feature."""
