from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class LibraryLoan(models.Model):
    _name = "library.loan"
    _description = "Book loan"
    _inherit = ["mail.thread"]

    name = fields.Char("Book title", required=True, tracking=True)
    isbn = fields.Char("ISBN-13")
    partner_id = fields.Many2one("res.partner", "Borrower", required=True, tracking=True)
    state = fields.Selection(
        [("lent", "Lent"), ("returned", "Returned")],
        default="lent",
        required=True,
        tracking=True,
    )

    @api.constrains("isbn")
    def _check_isbn(self):
        for loan in self.filtered("isbn"):
            digits = [int(c) for c in loan.isbn if c.isdigit()]
            if len(digits) != 13:
                raise ValidationError(_("An ISBN-13 has 13 digits."))
            checksum = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
            if checksum % 10:
                raise ValidationError(_("The ISBN-13 check digit is wrong."))

    def action_return(self):
        self.write({"state": "returned"})
        for loan in self:
            loan.message_post(body=_("Returned, thank you!"))
