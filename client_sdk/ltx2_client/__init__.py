"""Python SDK for the ltx2d daemon."""
