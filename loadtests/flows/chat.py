"""AI chat: open a session, append messages, page the history, attach an artifact.

As the seed writes them: ``chat_sessions``/``chat_messages``/``artifacts`` rows in PostgreSQL, each
artifact's bytes under ``ai-artifacts/sessions/{session}/{filename}`` — the object is stored before
its row, so a row never names a missing object. Texts come from the seed's generators.
"""
from __future__ import annotations

import io
import random
import uuid

from locust import task
from minio.sse import SseS3

from estate.seed import content
from estate.seed.generate import BUCKET_AI_ARTIFACTS, SYMBOLS
from loadtests.flows.base import FlowUser, acknowledged, seeded

PAGE = 20


class ChatUser(FlowUser):
    flow = "chat"

    def on_start(self) -> None:
        super().on_start()
        self.rng = random.Random()
        self.sessions: list[dict] = []  # this user's: id, strategy, symbol, turn, artifacts

    def _session(self) -> dict:
        return self.sessions[-1] if self.sessions and self.rng.random() < 0.8 else self.open_session()

    @task(1)
    def open_session(self) -> dict:
        s = {"id": str(uuid.uuid4()), "strategy": self.rng.choice(content.STRATEGIES),
             "symbol": self.rng.choice(list(SYMBOLS)), "turn": 0, "artifacts": []}
        with self.op("postgres", "chat: open session"):
            self.pg.execute("INSERT INTO chat_sessions (id, user_id, title) VALUES (%s, %s, %s)",
                            (s["id"], self.run_id, content.session_title(s["strategy"], s["symbol"])))
        acknowledged("chat_session", id=s["id"])
        self.sessions.append(s)
        return s

    @task(5)
    def append_messages(self) -> None:
        s = self._session()
        question = content.user_message(self.rng, s["strategy"], s["symbol"], s["turn"])
        answer = content.assistant_message(self.rng, s["strategy"], s["symbol"], [])
        with self.op("postgres", "chat: append messages"), self.pg.transaction():
            with self.pg.cursor() as cur:
                cur.executemany("INSERT INTO chat_messages (session_id, role, content) VALUES (%s, %s, %s)",
                                [(s["id"], "user", question), (s["id"], "assistant", answer)])
                cur.execute("UPDATE chat_sessions SET updated_at = now() WHERE id = %s", (s["id"],))
        s["turn"] += 1
        acknowledged("chat_messages", session=s["id"], count=2)

    @task(4)
    def page_history(self) -> None:
        mine = [s["id"] for s in self.sessions]
        sid = self.rng.choice(mine) if mine and self.rng.random() < 0.5 else self.rng.choice(seeded()["sessions"])
        with self.op("postgres", "chat: page history"):
            before = None
            for _ in range(3):  # newest page first, then older ones (keyset pagination on the session/ts index)
                rows = self.pg.execute(
                    "SELECT id, role, content, timestamp FROM chat_messages WHERE session_id = %s"
                    " AND (%s::timestamp IS NULL OR timestamp < %s) ORDER BY timestamp DESC LIMIT %s",
                    (sid, before, before, PAGE)).fetchall()
                if len(rows) < PAGE:
                    break
                before = rows[-1][3]

    @task(1)
    def attach_artifact(self) -> None:
        s = self._session()
        left = [f for f in content.ARTIFACT_ORDER if f not in s["artifacts"]]
        if not left:
            s = self.open_session()
            left = content.ARTIFACT_ORDER
        fname = left[0]
        body = content.artifact_body(fname, s["strategy"], s["symbol"])
        key = f"sessions/{s['id']}/{fname}"
        with self.op("minio+postgres", "chat: attach artifact"):
            self.minio.put_object(BUCKET_AI_ARTIFACTS, key, io.BytesIO(body), len(body),
                                  content_type=content.mime_type(fname), sse=SseS3())
            self.pg.execute("INSERT INTO artifacts (session_id, filename, file_path, mime_type) VALUES (%s, %s, %s, %s)",
                            (s["id"], fname, key, content.mime_type(fname)))
        s["artifacts"].append(fname)
        acknowledged("artifact", session=s["id"], key=key)
