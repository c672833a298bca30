"""The web server's entry point (`gunicorn portal.wsgi:app`): the application, with the catalog
folder's new service versions loaded as it starts. Commands (`okienko …`) do not load it."""

from portal import create_app, load_catalog_at_start

app = create_app()
load_catalog_at_start(app)
