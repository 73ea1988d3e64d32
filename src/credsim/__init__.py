"""credsim: simulate social credit systems on synthetic populations, up to a whole nation."""

__version__ = "0.1.0"
