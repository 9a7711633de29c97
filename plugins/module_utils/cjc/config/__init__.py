"""Configuration: every path under the root prefix, and the documented files with their rules."""
