# An example addon for slipway's README: `slipway ci examples/addons --odoo 14.0`.
{
    "name": "Library Loans",
    "summary": "Lend books to partners; every change is tracked in the chatter",
    "version": "1.0.0",
    "license": "LGPL-3",
    "author": "slipway",
    "depends": ["mail"],
    "data": [
        "security/ir.model.access.csv",
    ],
    "installable": True,
}
