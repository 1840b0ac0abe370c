"""Collecting scored conversations durably, and turning them into datasets."""
