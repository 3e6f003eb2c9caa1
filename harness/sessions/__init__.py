"""The synthetic data the canary creates and removes: guarded writes, the run lock, the journey driver, the sweeper."""
