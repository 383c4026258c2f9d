"""Errors a manager can cause, with messages fit to show as they are."""


class InvoiceDeskError(Exception):
    """A refused action; the message says why and what to do."""


class NotFoundError(InvoiceDeskError):
    """A record named by id or number does not exist."""


class BillingDisabledError(InvoiceDeskError):
    """Invoice billing is switched off in Settings."""


class ConcurrencyError(InvoiceDeskError):
    """Another manager changed the same records at the same moment."""
