"""``passerelle replay`` and ``passerelle release``: operator actions on finished messages.

Both work through the store only, so they can run while the engine runs in another
process: the engine's store poller (every second by default) or its next start picks the
work up. ``replay`` puts messages back to ``received``; the engine routes them again with
the rules in force in it, and the transforms (maps) are applied again at delivery time.
A changed routes.yaml or map is in force once the engine has reloaded it: ``replay``
warns when the files differ from what the running engine loaded, and ``--reload`` makes
it reload first (see ``passerelle reload``). A message still in progress (e.g. replayed a
moment ago and not routed yet) is waited for, then replayed, never skipped, unless
``--wait`` runs out. ``release`` lets the messages queued behind a dead letter of an
ordered destination go on without it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from engine.cli.common import config_option, load_or_exit, with_store
from engine.cli.operator import audit, cli_actor
from engine.cli.reload import request_reload, running_state
from engine.config.types import parse_duration
from engine.errors import NotFound
from engine.message import DeliveryState, MessageState
from engine.replay_preview import ReplayPreview, preview_replay
from engine.store.base import MessageQuery, ReplayResult, Store

_FINISHED = [s.value for s in MessageState if s.finished]


@click.command()
@click.argument("message_ids", nargs=-1)
@config_option
@click.option("--channel", help="messages received on this channel")
@click.option("--state", type=click.Choice(_FINISHED), help="messages in this state")
@click.option("--destination", help="only this destination's deliveries (messages that have one)")
@click.option("--dead", is_flag=True, help="messages with a dead delivery (to --destination)")
@click.option("--since", type=click.DateTime(), help="received at or after (local time)")
@click.option("--until", type=click.DateTime(), help="received before (local time)")
@click.option("--resend", is_flag=True, help="also send again deliveries that were sent")
@click.option("--limit", type=int, default=None, help="at most this many messages (oldest first)")
@click.option("--dry-run", is_flag=True, help="list the messages; change nothing")
@click.option("--reload", "reload_first", is_flag=True, help="make the engine reload first")
@click.option(
    "--wait",
    "wait_for",
    default="60s",
    show_default=True,
    help="how long to wait for a message still in progress",
)
def replay(
    message_ids: tuple[str, ...],
    config: Path,
    channel: str | None,
    state: str | None,
    destination: str | None,
    dead: bool,
    since: datetime | None,
    until: datetime | None,
    resend: bool,
    limit: int | None,
    dry_run: bool,
    reload_first: bool,
    wait_for: str,
) -> None:
    """Route messages again with the current rules and deliver them again.

    Give message ids, or select with filters: `--destination X --dead` replays every dead
    letter of X. Dead deliveries go back to pending with a fresh retry budget; sent ones
    are kept unless --resend. The history of each message records the replay.
    """
    filters = (channel, state, destination, dead or None, since, until)
    if not message_ids and all(f is None for f in filters):
        raise click.UsageError("give message ids or at least one filter (see --help)")
    query = MessageQuery(
        channel=channel,
        state=MessageState(state) if state else None,
        since=since.astimezone() if since else None,
        until=until.astimezone() if until else None,
        destination=destination,
        delivery_state=DeliveryState.DEAD if dead else None,
        limit=limit,
    )

    patience = _duration(wait_for, "--wait")
    # waiting for a message in progress only makes sense while an engine works on it
    if not _rules_in_force(config, reload_first and not dry_run):
        patience = 0.0

    async def one(store: Store, message_id: str) -> ReplayResult:
        deadline = time.monotonic() + patience
        while True:
            try:
                result = await store.request_replay(
                    message_id,
                    destination=destination,
                    resend_sent=resend,
                    reason=f"replayed by {cli_actor()}",
                )
            except NotFound:
                return ReplayResult(message_id, False, "no such message")
            in_progress = not result.replayed and result.note.startswith("still in progress")
            if not in_progress or time.monotonic() >= deadline:
                return result
            await asyncio.sleep(0.2)  # routed by the engine within a poll interval

    loaded = load_or_exit(config, lenient=True) if dry_run else None
    previews: dict[str, ReplayPreview] = {}

    async def run(store: Store) -> list[ReplayResult]:
        ids = list(message_ids) if message_ids else await store.message_ids(query)
        results: list[ReplayResult] = []
        for message_id in ids:
            if loaded is not None:
                try:
                    preview = await preview_replay(store, loaded, message_id, destination)
                except NotFound:
                    results.append(ReplayResult(message_id, False, "no such message"))
                    continue
                previews[message_id] = preview
                results.append(ReplayResult(message_id, preview.would_replay, preview.note))
                continue
            result = await one(store, message_id)
            outcome = "ok" if result.replayed else "failed"
            detail = f"destination {destination}" if destination else ""
            await audit(store, "replay", message_id, outcome, detail or result.note)
            results.append(result)
        return results

    results = with_store(config, run)
    for r in results:
        if dry_run:
            verdict = "would replay" if r.replayed else "would skip"
        else:
            verdict = "replayed" if r.replayed else "skipped"
        click.echo(f"{r.message_id}  {verdict}: {r.note}")
        preview = previews.get(r.message_id)
        if preview is not None and r.replayed:
            _show_preview(preview)
    done = sum(r.replayed for r in results)
    if dry_run:
        click.echo(f"{len(results)} message(s) selected; nothing changed (--dry-run)")
        return
    click.echo(
        f"{done} message(s) queued for replay"
        + (f", {len(results) - done} skipped" if len(results) > done else "")
        + (
            "; a running engine picks them up within seconds, else at its next start"
            if done
            else ""
        )
    )
    if message_ids and done < len(results):
        sys.exit(1)


def _show_preview(preview: ReplayPreview) -> None:
    """The routing a replay would make now (``--dry-run``), under the current files."""
    click.echo(f"    routing now  {preview.outcome}: {preview.reason}")
    for r in preview.routes:
        mapping = f" (map {r.mapping})" if r.mapping else " (unchanged)"
        click.echo(f"    would send   route {r.route} → {r.destination}{mapping}")


def _duration(value: str, option: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _rules_in_force(config: Path, reload_first: bool) -> bool:
    """With ``--reload``, reload the engine (exit 1 if refused); otherwise warn when the
    files on disk are not what the running engine loaded. True when an engine runs."""
    from engine.runstate import config_digest

    if reload_first:
        outcome = request_reload(config, 30.0)
        if outcome["outcome"] != "applied":
            for line in outcome.get("errors", []):
                click.echo(line, err=True)
            raise click.ClickException("the engine refused the reload; nothing replayed")
        click.echo("engine reloaded: the replay uses the new rules")
        return True
    state = running_state(config)
    if state is None:
        return False
    engine_config = Path(state["config"])
    if config_digest(engine_config, load_or_exit(engine_config)) != state["digest"]:
        click.echo(
            f"warning: {engine_config.name} or its maps changed since the engine loaded them"
            f" ({state['loaded_at']}); the replay uses the rules in force. Run"
            " `passerelle reload` (or replay with --reload) to use the new ones.",
            err=True,
        )
    return True


@click.command()
@click.argument("message_id")
@config_option
@click.option("--destination", help="the destination of the dead delivery (if several)")
def release(config: Path, message_id: str, destination: str | None) -> None:
    """Let later messages of an ordered destination go on past this message's dead letter.

    The delivery stays dead (replay it later if needed); only the messages of the same
    ordering key that waited behind it are released.
    """

    async def run(store: Store) -> list[str]:
        dead = [
            d
            for d in await store.deliveries(message_id)
            if d.state is DeliveryState.DEAD and destination in (None, d.destination)
        ]
        if len(dead) != 1:
            names = ", ".join(d.destination for d in dead) or "none"
            raise click.ClickException(
                f"message {message_id} needs exactly one dead delivery to release"
                f" (dead: {names}); use --destination"
            )
        d = await store.release_delivery(dead[0].id, f"released by {cli_actor()}")
        await audit(store, "release", dead[0].id, detail=f"message {message_id}")
        return [d.destination]

    (name,) = with_store(config, run)
    click.echo(f"{message_id}  released at {name}: later messages of its key go on")


COMMANDS = [replay, release]
