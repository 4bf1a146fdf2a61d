"""contact ownership: matching keys, the plans that list a contact, operator-set fields,
removal and link generations

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:30:00
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.text import clean, person_key

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_FIELDS = ("role", "email", "zalo_user_id", "phone", "is_head", "is_coordinator")


def upgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('file_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('plans', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('operator_fields', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('generation', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_contact_name_key'), ['name_key'], unique=False)
    _fill_existing(op.get_bind())


def _fill_existing(bind: Any) -> None:
    """Give existing contacts their keys and owners, keeping every operator's edit.

    Which fields an operator set is read back from the history (``contact_set`` rows name the
    unit, the contact and the fields): from now on no plan load changes them. Contacts an
    operator never touched are taken as listed by every plan loaded so far, so a reload that
    no longer lists them removes them. Contacts that differ only in byte form (NFD, invisible
    characters, tone placement) were one person loaded twice: the first is kept, the copies
    are removed and their queued messages cancelled, so nobody hears each reminder twice.
    """
    meta = sa.MetaData()
    contact = sa.Table('contact', meta, autoload_with=bind)
    department = sa.Table('department', meta, autoload_with=bind)
    activity = sa.Table('activity', meta, autoload_with=bind)
    plan = sa.Table('plan', meta, autoload_with=bind)
    outbox = sa.Table('outbox', meta, autoload_with=bind)

    units = {row.code: row.id for row in bind.execute(sa.select(department.c.id, department.c.code))}
    edited: dict[tuple[int, str], set[str]] = defaultdict(set)
    query = sa.select(activity.c.field, activity.c.to_value, activity.c.note).where(
        activity.c.action == 'contact_set'
    )
    for field, name, note in bind.execute(query):
        if field in units and name:
            fields = {part.strip() for part in (note or '').split(',')}
            edited[(units[field], person_key(name))].update(fields & set(_FIELDS))
            edited[(units[field], person_key(name))].add('')  # touched, even with no field
    plan_codes = sorted(row.code for row in bind.execute(sa.select(plan.c.code)))

    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in bind.execute(sa.select(contact.c.id, contact.c.department_id, contact.c.name)):
        groups[(row.department_id, person_key(row.name))].append(row)
    for (department_id, key), rows in groups.items():
        touched = edited.get((department_id, key))
        # The copy already in canonical form is the one an operator typed on the command
        # line (`contacts set` matched names byte for byte), so it holds their edits.
        rows.sort(key=lambda r: (r.name != clean(r.name), r.id))
        for position, row in enumerate(rows):
            values: dict[str, Any] = {
                'name': clean(row.name),
                'name_key': key,
                'file_key': key,
                'operator_fields': sorted(touched - {''}) if touched else [],
                'plans': [] if touched else plan_codes,
            }
            if position:
                values.update(active=False, generation=1, plans=[], file_key=None)
                bind.execute(
                    outbox.update()
                    .where(outbox.c.contact_id == row.id, outbox.c.status == 'pending')
                    .values(status='cancelled', last_error='người nhận trùng, đã gộp')
                )
            bind.execute(contact.update().where(contact.c.id == row.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_name_key'))
        batch_op.drop_column('generation')
        batch_op.drop_column('active')
        batch_op.drop_column('operator_fields')
        batch_op.drop_column('plans')
        batch_op.drop_column('file_key')
        batch_op.drop_column('name_key')
