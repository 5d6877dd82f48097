"""The few exception types a user can meet, each carrying what a one-line message needs."""


class QslabError(Exception):
    """Base of every error qslab raises on purpose."""


class ValidationError(QslabError):
    """A parameter, station or recipe value is wrong; raised before any instrument moves.

    ``field`` is the dotted name of the offending value (``parameters.fluences``,
    ``station.attenuator.resource``) so that the message points straight at the fix.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DeviceError(QslabError):
    """An instrument answered with an error, garbage, or not at all."""

    def __init__(self, instrument: str, resource: str, message: str):
        self.instrument = instrument
        self.resource = resource
        super().__init__(f"{instrument} at {resource}: {message}")


class RunAborted(QslabError):
    """Raised inside a procedure when the run was asked to stop (Ctrl-C, SIGTERM, API)."""


class PumpLost(QslabError):
    """The beam was open but (almost) no pump light reached the energy meter: an interlock,
    a laser that switched itself off, or something in the beam path."""
