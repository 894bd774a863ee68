"""The live feed: a WebSocket that pushes a pitcher's readiness as soon as it reaches the online store.

Protocol (JSON messages): the client sends `{"type": "auth", "token": "<key>"}` first (a key never goes in
a URL, where logs would keep it); the server answers with a `snapshot` of every pitcher the key may see,
then an `updates` message per write of the online store (a stream's micro-batch): `pitchers`, the readiness
of each pitcher it wrote that the key may see, with `written_at` (when the write was announced) and its
`source` (`<stream run>/<micro-batch>`, null for other writers). One message a write, not one a pitcher:
at 2,000 events/s a micro-batch writes ~400 pitchers, and sending them one by one kept the last of them
~0.4 s behind the first (measured with `readiness load`). A client that falls MAX_QUEUED messages
behind is closed with code 4008 and reconnects for a fresh snapshot. A key that expires or is revoked is
closed with code 4401; a key sees only its pitchers here as everywhere. Every HEARTBEAT_S the server also sends a
`heartbeat` with the feed's lag and which of the key's pitchers are stale, so a stalled feed turns the
dashboard stale without any update (and a revoked key is closed even when nothing is pitched).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from api.deps import authenticate
from api.keys import AuthError, Principal, key_id_of
from api.routes.pitchers import readiness_body
from api.services import Services
from readiness_platform.feature_store import updates_channel

router = APIRouter(tags=["live"])
log = logging.getLogger("readiness.api.live")
AUTH_TIMEOUT_S = 5.0
HEARTBEAT_S = 5.0
MAX_QUEUED = 100  # messages waiting for a client (~2 minutes of micro-batches): past this it must resync
BEHIND = "behind"  # queued in place of the messages of a client that fell MAX_QUEUED behind


class Client:
    def __init__(self, ws: WebSocket, who: Principal, token: str) -> None:
        self.ws, self.who, self.token = ws, who, token
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=MAX_QUEUED)  # (JSON text, pitcher updates in it)


class Broadcaster:
    """One Redis subscription per process, fanned out to the connected clients by their grants."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.clients: set[Client] = set()
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._listen(), name="readiness-broadcaster"),
                      asyncio.create_task(self._heartbeat(), name="readiness-heartbeat")]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if not self.clients:
                continue
            try:
                newest, feed = await run_in_threadpool(
                    lambda: (self.services.roster_times(), self.services.feed()))
            except (redis.RedisError, OSError):
                newest, feed = None, None
            limit = self.services.settings.stale_after_seconds
            lag = (time.time() - feed.written_at.timestamp()) if feed and feed.written_at else None
            clock = feed.newest_event_time.timestamp() if feed and feed.newest_event_time else None
            for client in list(self.clients):
                stale = ({p: lag is None or lag > limit or (clock or t) - t > limit
                          for p, t in newest.items() if client.who.can_see(p)} if newest is not None else None)
                _offer(client, json.dumps({"type": "heartbeat", "feed_lag_s": lag, "stale_after_s": limit,
                                           "store_reachable": newest is not None, "stale": stale}), 0)

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                conn = aioredis.Redis.from_url(self.services.settings.redis_url)
                async with conn.pubsub() as pubsub:
                    await pubsub.subscribe(updates_channel(conn.connection_pool.connection_kwargs.get("db", 0)))
                    backoff = 0.5
                    async for message in pubsub.listen():
                        if message["type"] == "message" and self.clients:
                            await self._fan_out(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as e:
                log.warning("live feed: Redis subscription lost (%s); retrying in %.1fs", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _fan_out(self, message: dict) -> None:
        written = set(message["pitchers"])
        wanted = {p for c in self.clients for p in written if c.who.can_see(p)}
        if not wanted:
            return
        rows, feed = await run_in_threadpool(
            lambda: (self.services.read(sorted(wanted)), self.services.feed()))
        # each pitcher's body serialized once, whatever the number of clients; one message per client
        bodies = {pid: readiness_body(self.services, rows[pid], feed).model_dump_json()
                  for pid in sorted(written & set(rows))}
        head = json.dumps({"type": "updates", "written_at": message["written_at"], "source": message.get("source")})
        for client in list(self.clients):
            mine = [body for pid, body in bodies.items() if client.who.can_see(pid)]
            if mine:
                _offer(client, f'{head[:-1]}, "pitchers": [{", ".join(mine)}]}}', len(mine))


def _offer(client: Client, text: str, updates: int) -> None:
    """Queue a message for the client. One that does not read falls behind: what it has queued is dropped
    (it could not tell which pitchers it missed) and it is closed with 4008, to reconnect for a snapshot."""
    try:
        client.queue.put_nowait((text, updates))
    except asyncio.QueueFull:
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait((BEHIND, 0))


@router.websocket("/api/live")
async def live(ws: WebSocket) -> None:
    """Snapshot, then an update per pitcher as the online store is written (auth by the first message)."""
    services: Services = ws.app.state.services
    broadcaster: Broadcaster = ws.app.state.broadcaster
    await ws.accept()
    try:
        first = json.loads(await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S))
        token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        who = await run_in_threadpool(authenticate, services, token)
    except (asyncio.TimeoutError, json.JSONDecodeError, AuthError) as e:
        reason = str(e) if isinstance(e, AuthError) else 'send {"type": "auth", "token": "<API key>"} first'
        outcome = getattr(e, "outcome", "bad_request")
        services.audit.record(key_id_of(token) if "token" in locals() and token else None, "/api/live", None,
                              outcome, 401)
        await ws.close(code=4401, reason=reason[:120])
        return
    except WebSocketDisconnect:
        return
    services.audit.record(who.key_id, "/api/live", None, "ok", 200)
    services.metrics.ws_clients.inc()
    client = Client(ws, who, token)
    broadcaster.clients.add(client)  # before the snapshot is read: a write in between is queued, not lost

    def snapshot() -> dict:
        version = services.versions.get()
        rows = services.read([p for p in services.roster() if who.can_see(p)], version)
        feed = services.feed()
        return {"type": "snapshot", "model_version": version, "stale_after_s": services.settings.stale_after_seconds,
                "pitchers": [readiness_body(services, r, feed, outing=True).model_dump(mode="json")
                             for _, r in sorted(rows.items())]}

    try:
        await ws.send_json(await run_in_threadpool(snapshot))
    except BaseException:
        broadcaster.clients.discard(client)
        raise
    checked = time.monotonic()
    try:
        receiver = asyncio.create_task(_drain(ws))
        while not receiver.done():
            getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            if time.monotonic() - checked > HEARTBEAT_S:  # revoked or expired since: close
                checked = time.monotonic()
                try:
                    await run_in_threadpool(authenticate, services, token)
                except AuthError as e:
                    await ws.close(code=4401, reason=str(e)[:120])
                    break
            text, updates = getter.result()
            if text == BEHIND:
                await ws.close(code=4008, reason=f"more than {MAX_QUEUED} messages behind: reconnect for a snapshot")
                break
            await ws.send_text(text)
            services.metrics.ws_pushes.inc(updates)
    except WebSocketDisconnect:
        pass
    finally:
        broadcaster.clients.discard(client)


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed."""
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        return
