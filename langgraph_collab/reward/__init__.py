"""The Multiturn-aware Reward: forward sampling, scoring, metrics, fidelity, stopping, adaptive
sampling."""
