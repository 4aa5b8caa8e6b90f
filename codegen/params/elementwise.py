"""ADD and MUL (binary element-wise, with broadcasting)."""
