# slipway's own addon. The Odoo that serves a build loads it server-wide
# (`--load`): its route answers on the build's database without the module
# being installed there.
{
    'name': 'slipway Connect',
    'summary': "Lets slipway open an Odoo session for a user of a served build",
    'version': '1.0',
    'license': 'AGPL-3',
    'author': 'slipway',
    'depends': ['web'],
    # Server-wide loading imports the module whatever this says (checked in
    # odoo.modules.module.load_openerp_module, 14.0 to 19.0); False keeps Apps
    # from ever offering to install it into a database.
    'installable': False,
}
