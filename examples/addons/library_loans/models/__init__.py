from . import library_loan
