"""``hashtrail serve``: a read-only web browser of the evidence (Starlette, Jinja2, uvicorn).

Why Starlette rather than a Datasette plugin: the pages need pictures that
are not in the database (thumbnails of zip members, video frames at the
matched second, drawn timelines) and the same JSON the CLI prints, which a
small app over the pipeline's own functions gives directly; Datasette stays
the right tool for raw SQL (``datasette -i hashtrail.db``).

Safety, because archives hold hostile names and a browser is a new way in:
- the database is opened with SQLite's ``mode=ro``: no route can write it;
- files are served only by media id, from the path the database holds for
  that id: no request parameter ever reaches the file system as a path;
- every name is escaped (Jinja2 autoescape), and every response carries a
  Content-Security-Policy with no inline scripts and only same-origin images;
- uploads to ``/match`` are size-capped, go to a temporary file, and go
  through the same decoders and limits as ``scan``; nothing is stored.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from hashtrail import config
from hashtrail.figures import spread_timeline
from hashtrail.pipeline import report
from hashtrail.pipeline.errors import HashtrailError, MediaError
from hashtrail.pipeline.index.search import match_file
from hashtrail.pipeline.media.thumbnail import MAX_SIDE, ThumbnailCache, make_thumbnail
from hashtrail.pipeline.store import Store

HERE = Path(__file__).parent
PAGE_SIZE = 30
MEMBERS_PER_PAGE = 100
CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
PLACEHOLDER = (HERE / "static" / "missing.svg").read_bytes()


def _int(request: Request, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    try:
        return max(low, min(high, int(request.query_params.get(name, default))))
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number") from None


def _date(request: Request, name: str) -> str | None:
    value = request.query_params.get(name) or None
    if value:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise HTTPException(400, f"{name} must be a date, YYYY-MM-DD") from None
    return value


def _wants_json(request: Request) -> bool:
    """Every page is also JSON: its path with .json, or ?format=json."""
    return request.url.path.endswith(".json") or request.query_params.get("format") == "json"


def tweet_url(post_id: str | None) -> str | None:
    """A link to the tweet, when the post id looks like a tweet id (Snowflake digits)."""
    return f"https://twitter.com/i/web/status/{post_id}" if post_id and post_id.isdigit() and len(post_id) >= 15 \
        else None


class ReadOnlyHeaders:
    """ASGI middleware: only GET and HEAD (and the match upload) get through; every answer gets the CSP."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD") and scope["path"] not in ("/match", "/match.json"):
            response = Response("this server is read-only", status_code=405, headers={"Allow": "GET, HEAD"})
            return await response(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(db: str, settings: config.Settings | None = None) -> Starlette:
    """The web app over the database at ``db`` (opened read-only per request)."""
    settings = (settings or config.load()).replace(db=db)
    Store(db, read_only=True).close()  # fail now, with the store's message, not at the first request
    templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                                       autoescape=True))  # every name escaped, whatever the file
    templates.env.globals.update(clock=report.clock, tweet_url=tweet_url, plural=report.plural,
                                  cut_text=report.cut_text)
    templates.env.filters["delay"] = report.delay_text
    cache = ThumbnailCache(db)

    def store() -> Store:
        return Store(db, read_only=True)

    kept: dict = {}

    def stored_fingerprints(s: Store):
        """Every stored fingerprint, read once and kept until the database's rows change."""
        version = s.fingerprints_version()
        if kept.get("version") != version:
            kept.update(version=version, rows=s.fingerprints())
        return kept["rows"]

    def page(request: Request, name: str, data: dict, json_data) -> Response:
        if _wants_json(request):
            return JSONResponse(json_data)
        return templates.TemplateResponse(request, name, {"db": os.path.basename(db), **data})

    def index(request: Request) -> Response:
        filters = {"min_accounts": _int(request, "min_accounts", 2, 1), "kind": request.query_params.get("kind") or None,
                   "since": _date(request, "since"), "until": _date(request, "until"),
                   "account": request.query_params.get("account") or None}
        if filters["kind"] not in (None, "image", "video", "animation"):
            raise HTTPException(400, "kind is one of image, video, animation")
        number = _int(request, "page", 1, 1)
        s = store()
        try:
            overview = s.overview()
            rows, total = s.browse_clusters(**filters, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
            strips = s.cluster_strips([r["cluster"] for r in rows])
        finally:
            s.close()
        clusters = [{**r, "strip": strips[r["cluster"]]} for r in rows]
        query = {k: v for k, v in filters.items() if v is not None}
        pages = {"number": number, "total": total, "size": PAGE_SIZE,
                 "prev": urlencode({**query, "page": number - 1}) if number > 1 else None,
                 "next": urlencode({**query, "page": number + 1}) if number * PAGE_SIZE < total else None}
        return page(request, "index.html", {"overview": overview, "clusters": clusters, "filters": filters,
                                            "pages": pages},
                    {"overview": overview, "clusters": clusters, "total": total, "page": number})

    def cluster(request: Request) -> Response:
        cluster_id = request.path_params["cluster_id"]
        s = store()
        try:
            if _wants_json(request):
                try:  # the whole cluster, as the CLI's JSON gives it
                    return JSONResponse(report.public(report.cluster_report(s, cluster_id)))
                except HashtrailError as exc:
                    raise HTTPException(404, str(exc)) from None
            head = s.cluster_head(cluster_id)
            if head is None:
                raise HTTPException(404, f"no cluster {cluster_id}")
            number = _int(request, "page", 1, 1)
            members = report.delays_after(s.cluster_members_page(cluster_id, MEMBERS_PER_PAGE,
                                                                 (number - 1) * MEMBERS_PER_PAGE), head["first_seen"])
            shown = report.with_frames(s, {"members": members})["members"]
            times = s.frame_times([m["media_id"] for m in shown if m.get("kind") != "image"])
        finally:
            s.close()
        members = [{**m, "frame_times": times.get(m["media_id"], [])} for m in shown]
        pages = {"number": number, "prev": number > 1, "next": number * MEMBERS_PER_PAGE < head["size"],
                 "size": MEMBERS_PER_PAGE}
        return templates.TemplateResponse(request, "cluster.html", {"db": os.path.basename(db), "pages": pages,
                                                                    "cluster": {**head, "members": members}})

    def account(request: Request) -> Response:
        name = request.path_params["account"]
        number = _int(request, "page", 1, 1)
        s = store()
        try:
            media, total = s.account_media(name, limit=PAGE_SIZE * 2, offset=(number - 1) * PAGE_SIZE * 2)
            partners = s.account_partners(name)
            shared, shared_total = s.browse_clusters(min_accounts=2, account=name, limit=PAGE_SIZE)
            profile = s.account_profile(name)
        finally:
            s.close()
        if total == 0 and not shared:
            raise HTTPException(404, "no media of that account")
        data = {"account": name, "profile": profile, "media": media, "media_total": total,
                "partners": partners, "shared_clusters": shared, "shared_total": shared_total}
        pages = {"number": number, "next": number * PAGE_SIZE * 2 < total, "prev": number > 1}
        return page(request, "account.html", {**data, "pages": pages}, data)

    def thumbnail(request: Request) -> Response:
        media_id = request.path_params["media_id"]
        side = _int(request, "side", 240, 16, MAX_SIDE)
        raw_t = request.query_params.get("t")
        s = store()
        try:
            item = s.media_item(media_id)
        finally:
            s.close()
        if item is None:
            raise HTTPException(404, "no media with that id")
        try:
            time_s = None if raw_t in (None, "") else max(0.0, min(float(raw_t), item["duration_s"] or 0.0))
        except ValueError:
            raise HTTPException(400, "t is a time in seconds") from None
        headers = {"Cache-Control": "private, max-age=3600"}
        try:
            data = cache.get(media_id, item["sha256"], time_s, side,
                             lambda: make_thumbnail(item["path"], item["kind"], settings, time_s, side))
        except MediaError:
            return Response(PLACEHOLDER, media_type="image/svg+xml", headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)

    def timeline(request: Request) -> Response:
        cluster_id = request.path_params["cluster_id"]
        s = store()
        try:
            members = s.cluster_members_page(cluster_id, 10**9)  # account and time are all a timeline needs
        finally:
            s.close()
        if not members:
            raise HTTPException(404, f"no cluster {cluster_id}")
        return Response(spread_timeline({"cluster": cluster_id, "members": members}), media_type="image/svg+xml")

    async def match(request: Request) -> Response:
        if request.method == "GET":
            return templates.TemplateResponse(request, "match.html", {"db": os.path.basename(db), "found": None})
        limit = max(settings.max_image_bytes, settings.max_video_bytes)
        try:  # a declared length the server holds the body to (no chunked upload of unknown size)
            declared = int(request.headers["content-length"])
        except (KeyError, ValueError):
            raise HTTPException(411, "an upload needs a Content-Length") from None
        if declared > limit + 65536:
            raise HTTPException(413, f"uploads are limited to {limit:,} bytes")
        async with request.form(max_files=1, max_fields=4, max_part_size=limit) as form:
            upload = form.get("file")
            if upload is None or not hasattr(upload, "read"):
                raise HTTPException(400, "choose a file to upload")
            name = os.path.basename(upload.filename or "upload")
            with tempfile.TemporaryDirectory(prefix="hashtrail-match-") as folder:
                path = os.path.join(folder, "upload" + os.path.splitext(name)[1][:10])
                with open(path, "wb") as out:
                    while chunk := await upload.read(1 << 20):
                        out.write(chunk)
                s = store()
                try:
                    found = match_file(s, path, settings, stored_fingerprints(s))
                    error = None
                except HashtrailError as exc:
                    found, error = [], str(exc).replace(path, name)
                finally:
                    s.close()
        if _wants_json(request):
            if error:
                return JSONResponse({"error": error}, status_code=422)
            return JSONResponse(found)
        return templates.TemplateResponse(request, "match.html", {"db": os.path.basename(db), "found": found,
                                                                  "error": error, "name": name})

    async def not_found(request: Request, exc: HTTPException) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return templates.TemplateResponse(request, "error.html", {"db": os.path.basename(db), "status": exc.status_code,
                                                                  "detail": exc.detail}, status_code=exc.status_code)

    app = Starlette(routes=[
        Route("/", index), Route("/index.json", index),
        Route("/cluster/{cluster_id:int}.json", cluster), Route("/cluster/{cluster_id:int}", cluster),
        Route("/cluster/{cluster_id:int}/timeline.svg", timeline),
        Route("/account/{account}.json", account), Route("/account/{account}", account),
        Route("/media/{media_id:int}/thumb.jpg", thumbnail),
        Route("/match", match, methods=["GET", "POST"]), Route("/match.json", match, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ], exception_handlers={HTTPException: not_found}, middleware=[Middleware(ReadOnlyHeaders)])

    return app
