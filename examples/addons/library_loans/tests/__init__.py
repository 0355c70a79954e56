from . import test_library_loan
