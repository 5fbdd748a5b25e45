"""revlens: revenue analytics for marketing and sales teams."""

__version__ = "0.1.0"
