from odoo.exceptions import ValidationError
from odoo.tests.common import TransactionCase


class TestLibraryLoan(TransactionCase):
    def setUp(self):
        super().setUp()
        self.partner = self.env["res.partner"].create({"name": "Ada Lovelace"})

    def _lend(self, **values):
        return self.env["library.loan"].create(dict({"name": "Dune", "partner_id": self.partner.id}, **values))

    def test_valid_isbn_is_accepted(self):
        self.assertEqual(self._lend(isbn="978-0-441-17271-9").isbn, "978-0-441-17271-9")

    def test_wrong_check_digit_is_refused(self):
        with self.assertRaises(ValidationError):
            self._lend(isbn="978-0-441-17271-8")

    def test_return_posts_in_the_chatter(self):
        loan = self._lend()
        loan.action_return()
        self.assertEqual(loan.state, "returned")
        bodies = loan.message_ids.mapped("body")
        self.assertTrue(any("Returned, thank you!" in (body or "") for body in bodies), bodies)
