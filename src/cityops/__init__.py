"""cityops — operating platform of Changning District's 一网统管 city-operations system."""

__version__ = "0.1.0"
