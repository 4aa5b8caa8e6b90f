"""ADD and MUL."""
