"""Exceptions raised when a run cannot go on. Bad data is never an exception: it is a Finding."""


class KakosheetError(Exception):
    """Base class of every error kakosheet reports to the user."""


class TabNotFound(KakosheetError):
    """A tab the run needs is not in the workbook."""


class WorkbookNotFound(KakosheetError):
    """The workbook file or spreadsheet does not exist."""


class WorkbookExists(KakosheetError):
    """init was asked to write over an existing workbook."""


class UnreadableWorkbook(KakosheetError):
    """The workbook could not be opened or parsed."""


class WriteConflict(KakosheetError):
    """The workbook changed under the sync in a way it could not work around."""


class SchemaError(KakosheetError):
    """A file in schemas/ or templates/ is malformed."""


class UsageError(KakosheetError):
    """An option or argument has a value the command cannot use."""


class WorkbookChanged(KakosheetError):
    """Someone saved the workbook between the sync's read and its write; the sync starts over."""


class WorkbookOpen(KakosheetError):
    """The workbook is open in Excel, WPS or LibreOffice, which would overwrite the sync's write."""


class WorkbookLocked(KakosheetError):
    """Another sync of the same workbook is running."""


class WorkbookNotWritable(KakosheetError):
    """The workbook or its folder cannot be written."""


class StateUnreadable(KakosheetError):
    """The hidden state tab holds a row or line this release cannot read, or was written by a newer one."""
