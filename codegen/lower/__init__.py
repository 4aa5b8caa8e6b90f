"""From a prepared graph to C: the arena plan (codegen.lower.memory_plan), the emission context of
one library and one layer (codegen.lower.layer), and `mlc generate` (codegen.lower.generate)."""
