"""slipway's "Connect": a new Odoo session for a user of a served build,
without a password, for whoever holds the build's secret.

slipway's server calls ``GET /slipway/connect?login=<login>[&redirect=<path>]``
with the secret in the ``X-Slipway-Connect`` header, on behalf of a person it
let into the build, and hands Odoo's answer (a redirect carrying Odoo's own
``session_id`` cookie) on to that person's browser. Without the secret the
route answers exactly as a route that does not exist.
"""

import hmac
import logging
from urllib.parse import urlsplit

import werkzeug.exceptions
import werkzeug.utils

from odoo import http
from odoo.http import request
from odoo.tools import config

_logger = logging.getLogger(__name__)

# Written into the build's odoo.conf by slipway when it serves the build.
SECRET_OPTION = 'slipway_connect_secret'
SECRET_HEADER = 'X-Slipway-Connect'
WEB_CLIENT = '/web'


def _holds_the_secret():
    expected = str(config.get(SECRET_OPTION) or '').strip()
    given = request.httprequest.headers.get(SECRET_HEADER, '')
    # Without a configured secret nothing matches, not even an empty header.
    return bool(expected) and hmac.compare_digest(
        given.encode('utf-8'), expected.encode('utf-8'))


def _local_target(redirect):
    """``redirect`` when it is a path on this Odoo, else the web client."""
    if not redirect or not redirect.startswith('/') or redirect.startswith('//'):
        return WEB_CLIENT
    # Browsers read '\' as '/' ('/\evil' is '//evil') and skip control
    # characters and blanks, which could make another host of the rest.
    if any(char == '\\' or ord(char) <= 0x20 or ord(char) == 0x7f for char in redirect):
        return WEB_CLIENT
    parts = urlsplit(redirect)
    if parts.scheme or parts.netloc:
        return WEB_CLIENT
    return redirect


def _open_session(user):
    """Replaces the browser's session, if any, by a new one of ``user``, as
    Odoo's own login finalizes one (two-factor authentication is skipped on
    purpose: slipway already decided who may enter)."""
    session = request.session
    # Empties the session and marks it for rotation: the answer carries a new
    # session id and the old one is deleted from the session store.
    session.logout(keep_db=True)
    if hasattr(request, 'update_env'):
        # 16.0+ (odoo.http.Session): finalize(env) turns the pre-session into
        # a logged-in one (db, login, uid, context, session_token) and sets
        # should_rotate; Request._save_session then rotates it, computes the
        # token for the new id and sets the cookie.
        session['pre_login'] = user.login
        session['pre_uid'] = user.id
        session.finalize(request.env)
        request.update_env(user=user.id)
    else:
        # 14.0/15.0 (OpenERPSession): authenticate() sets db and login,
        # finalize() the uid, session_token and context; Root.get_response
        # rotates the session, recomputes the token and sets the cookie.
        session['db'] = request.db
        session['login'] = user.login
        session['pre_uid'] = user.id
        session.finalize()


class SlipwayConnect(http.Controller):

    # auth='none': the caller has no Odoo session yet, the secret is what
    # authenticates it. readonly=False: 18.0+ give auth='none' routes a
    # read-only cursor by default and this one records the login (older
    # versions ignore the key).
    @http.route('/slipway/connect', type='http', auth='none', csrf=False, readonly=False)
    def slipway_connect(self, login=None, redirect=None, **_ignored):
        if request.httprequest.method != 'GET' or not request.db or not _holds_the_secret():
            raise werkzeug.exceptions.NotFound()
        users = request.env['res.users'].sudo()
        user = users.browse()
        if login:
            user = users.search(
                users._get_login_domain(login), order=users._get_login_order(), limit=1)
        if not user:
            # Raised, not returned: an error answer leaves the session store
            # and the browser's cookies alone.
            raise werkzeug.exceptions.NotFound(response=http.Response(
                'slipway connect: no active user with this login\n',
                status=404, content_type='text/plain; charset=utf-8'))
        _open_session(user)
        # What a login records: the user's "latest authentication".
        user.with_user(user).sudo()._update_last_login()
        _logger.info("slipway connect: new session for login %s (uid %s)", user.login, user.id)
        return werkzeug.utils.redirect(
            _local_target(redirect), code=303, Response=http.Response)
