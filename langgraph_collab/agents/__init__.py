"""Collaboration inside an existing agent: the collaborative node and middleware, and their
lookahead."""
