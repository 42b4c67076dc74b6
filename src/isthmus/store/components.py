"""Registered components: rows only (what a self-description means is the scheduler's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from isthmus.store.schema import ComponentRow
from isthmus.wire.clock import now_ms

ENABLED, DISABLED = "ENABLED", "DISABLED"
Key = tuple[str, str, str]  # component name, provider, version


class ComponentRepository:
    def put(
        self, session: Session, key: Key, self_description: str, image_url: str, runner: str
    ) -> tuple[ComponentRow, bool]:
        """Register or re-register (a new description replaces the old; the state stays).
        Returns the row and whether it is new."""
        stamp = now_ms()
        row = session.get(ComponentRow, key)
        if row is None:
            row = ComponentRow(
                component_name=key[0],
                provider=key[1],
                version=key[2],
                image_url=image_url,
                runner=runner,
                state=ENABLED,
                self_description=self_description,
                registered_at=stamp,
                updated_at=stamp,
            )
            session.add(row)
            session.flush()
            return row, True
        row.self_description, row.image_url, row.runner = self_description, image_url, runner
        row.updated_at = stamp
        return row, False

    def get(self, session: Session, key: Key) -> ComponentRow | None:
        return session.get(ComponentRow, key)

    def list(self, session: Session, *, name: str | None = None) -> Sequence[ComponentRow]:
        query = select(ComponentRow).order_by(
            ComponentRow.component_name, ComponentRow.provider, ComponentRow.version
        )
        if name:
            query = query.where(ComponentRow.component_name == name)
        return list(session.scalars(query))

    def set_state(self, session: Session, key: Key, state: str) -> ComponentRow | None:
        row = session.get(ComponentRow, key)
        if row is not None and row.state != state:
            row.state, row.updated_at = state, now_ms()
        return row
