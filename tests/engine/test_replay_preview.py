"""The dry run of a replay: the routing the current configuration gives a stored message,
and whether the store would take the replay; nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.loader import load_config_text
from engine.errors import NotFound
from engine.message import HL7V2, Envelope, MessageState
from engine.replay_preview import PreviewRoute, preview_replay
from engine.store.base import RoutingOutcome
from engine.store.sqlite import SqliteStore
from tests.engine.test_engine import adt

MAP = "map: tag\nsource: hl7v2\noutput:\n  resourceType: Basic\n  id: = MSH-10\n"


def config(tmp_path: Path, routes: str) -> str:
    (tmp_path / "maps").mkdir(exist_ok=True)
    (tmp_path / "maps" / "tag.yaml").write_text(MAP)
    return f"""\
version: 1
engine: {{home: {tmp_path}, mappings: {tmp_path}/maps}}
destinations:
  out_a: {{type: file, directory: {tmp_path}/a}}
  out_b: {{type: file, directory: {tmp_path}/b}}
routes:
{routes}"""


async def test_preview_names_the_routes_destinations_and_maps_in_force(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        env = Envelope.new(
            channel="adt_in",
            raw=adt("C1"),
            content_type=HL7V2,
            metadata={"hl7.message_type": "ADT"},
        )
        await store.accept(env)
        await store.start_processing(env.id)
        await store.finish_routing(env.id, RoutingOutcome(MessageState.UNMATCHED, "no route"))
        now = load_config_text(
            config(
                tmp_path,
                "  - {name: main, map: tag, validate: false, continue: true, to: [out_a]}\n"
                "  - {name: copy, when: {message_type: ADT}, to: [out_a, out_b]}\n"
                "  - {name: other, when: {message_type: ORU}, to: [out_b]}\n",
            )
        )
        preview = await preview_replay(store, now, env.id)
        assert preview.would_replay and preview.note == "unmatched → received"
        assert preview.outcome == "routed"
        assert preview.routes == (
            PreviewRoute("main", "out_a", "tag"),
            PreviewRoute("copy", "out_a", ""),
            PreviewRoute("copy", "out_b", ""),
        )
        only_b = await preview_replay(store, now, env.id, destination="out_b")
        assert only_b.routes == (PreviewRoute("copy", "out_b", ""),)
        # nothing changed in the store
        assert (await store.get_message(env.id)).state is MessageState.UNMATCHED
        assert await store.deliveries(env.id) == []
        # a message still in progress would not be replayed
        busy = Envelope.new(channel="adt_in", raw=adt("C2"), content_type=HL7V2)
        await store.accept(busy)
        waiting = await preview_replay(store, now, busy.id)
        assert not waiting.would_replay and waiting.note.startswith("still in progress")
        with pytest.raises(NotFound):
            await preview_replay(store, now, "NOPE")
    finally:
        await store.close()
