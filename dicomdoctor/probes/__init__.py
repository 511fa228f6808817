"""probes layer (see DESIGN.md)."""
