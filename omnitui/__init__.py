"""omnitui: an omnichannel customer-support console for the terminal."""

__version__ = "0.1.0"
