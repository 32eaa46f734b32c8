"""GRPO training: pure algorithm functions, the recipe schema, the staged trainer and checkpoints."""
