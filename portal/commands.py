"""What every `okienko` command is built from, as `flask.cli` is for Flask's extensions: each domain's
`cli.py` defines its group with `Group` and says what its commands need (portal/cli.py's docstring).

This module imports only click: it is loaded at every start of `okienko`, before anyone knows whether the
command needs Flask at all.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flask import Flask
    from flask.config import Config


class Portal:
    """The applications this run of `okienko` has built; the test runner's ScriptInfo stands in for it."""

    def __init__(self) -> None:
        self.apps: dict[bool, Flask] = {}

    def load(self, light: bool, migrations: bool = False) -> Flask:
        # Imported when a command runs: the portal's package brings Flask and SQLAlchemy with it.
        from portal import KeysMissing, create_app, init_migrations

        app = self.apps.get(False) or (self.apps.get(True) if light else None)
        if app is None:
            try:
                app = self.apps[light] = create_app(web=not light)
            except KeysMissing as exc:
                raise click.ClickException(str(exc)) from None
        if migrations and "migrate" not in app.extensions:
            init_migrations(app)
        return app


def _app_for(ctx: click.Context, light: bool) -> Flask:
    holder = ctx.find_object(Portal)
    if holder is not None:
        return holder.load(light)
    from flask.cli import ScriptInfo  # `app.test_cli_runner()` passes the test's application this way

    return ctx.ensure_object(ScriptInfo).load_app()


def with_app(light: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the command inside an application context (built when the command runs, not before)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            from flask import current_app  # Flask only once a command that needs it runs

            ctx = click.get_current_context()
            if not current_app:
                ctx.with_resource(_app_for(ctx, light).app_context())
            return command(*args, **kwargs)

        return run

    return decorate


def app_config() -> Config:
    """The settings of the application the running command has built."""
    from flask import current_app  # Flask only once a command that needs it runs

    return current_app.config


class Group(click.Group):
    """A group whose commands get their application context when they run (portal/cli.py's docstring),
    and whose `lazy` commands are imported only when asked for."""

    # name -> ("module:attribute", its help): the list in --help shows the help without importing the module.
    lazy: dict[str, tuple[str, str]] = {}

    def command(self, *args: Any, with_appcontext: bool = True, light: bool = False,  # type: ignore[override]
                **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
        outer = super().command

        def decorate(f: Callable[..., Any]) -> click.Command:
            return outer(*args, **kwargs)(with_app(light)(f) if with_appcontext else f)

        return decorate

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Group)
        return super().group(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            module, attribute = self.lazy[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The list in --help, without importing the lazy commands for their one-line help; a lazy command's
        # help is shortened as click shortens a loaded one's.
        rows = [(name, (click.Command(name, help=self.lazy[name][1]) if name in self.lazy and name not in self.commands
                        else self.get_command(ctx, name) or click.Command(name)).get_short_help_str(formatter.width))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def group(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Group]:
    """A domain's group of commands (`@commands.group("catalog")`), attached by portal/cli.py."""
    return click.group(name=name, cls=Group, **kwargs)
