"""Simulated wristbands, scenarios and the fleet publisher."""
