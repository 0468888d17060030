"""The navigation of a workspace's pages. A page module registers its page once
(`register`); the bar shows the pages the member's role may open, in `order` (Syncs,
Privacy, Team, API keys, Audit), and sign-in lands on the first of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from eventsync.access import Permission

if TYPE_CHECKING:
    from eventsync.console.web import Ctx


@dataclass(frozen=True)
class Page:
    title: str
    route: str  # the route's name; it takes `workspace_id`
    permission: Permission  # what the member's role must grant to see it
    order: int


_pages: dict[str, Page] = {}


def register(page: Page) -> Page:
    _pages[page.route] = page
    return page


def pages() -> list[Page]:
    return sorted(_pages.values(), key=lambda p: (p.order, p.title))


def visible(ctx: Ctx) -> list[Page]:
    return [p for p in pages() if ctx.can(p.permission)]


def links(request: Request, ctx: Ctx) -> list[dict[str, Any]]:
    out = []
    from eventsync.console.web import url

    for page in visible(ctx):
        path = url(request, page.route, workspace_id=ctx.workspace_id)
        out.append({"title": page.title, "url": path, "current": request.url.path == path})
    return out
