"""Custom Lava processes. Lava's compiler executes every .py file in this directory to find
process models, so these modules have no side effects beyond defining classes."""
