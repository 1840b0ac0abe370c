"""Whole simulated conversations per assistant, and their report."""
