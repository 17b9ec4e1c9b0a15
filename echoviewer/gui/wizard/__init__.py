"""The distillation wizard: teacher → synthetic data → student → run → evaluate → use it."""
