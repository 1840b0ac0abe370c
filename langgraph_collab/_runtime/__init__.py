"""The performance machinery, private: traced steps, the start line of a fan-out, heap
freezing, the compiled-graph cache."""
