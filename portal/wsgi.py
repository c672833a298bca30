"""The web server's entry point (`gunicorn portal.wsgi:app`): the application, with the catalog
folder's new service versions loaded as it starts. Commands (`okienko …`) do not load it.

In production (an https PORTAL_BASE_URL) it refuses to load while `okienko config check` finds an error.
gunicorn.conf.py stops the server before any worker starts; this covers a server started without that file.
"""

import os

from portal import config, create_app, load_catalog_at_start
from portal.ops import config_check

config_check.refuse_unsafe_start(config.from_environment(), os.environ)
app = create_app()
load_catalog_at_start(app)
