"""commands layer (see DESIGN.md)."""
