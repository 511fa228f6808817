"""capture layer (see DESIGN.md)."""
