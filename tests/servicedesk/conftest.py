"""Shared set-up for the service-desk tests (OPS-3): a desk team with people on duty."""

from datetime import UTC, datetime, timedelta

import pytest

from cityops.duty import service as duty
from cityops.servicedesk import service as desk

# Wednesday 2026-09-30 14:00 Beijing: the afternoon before the National Day holiday.
T0 = datetime(2026, 9, 30, 6, 0, tzinfo=UTC)


@pytest.fixture
def team(db, make_user):
    """Team "desk" (configured as the service desk): leader 王班长 (login lead1), member 李值班
    (login duty1) on shift T0-12h … T0+12h; a manager 张经理 without a shift."""
    lead = make_user("duty", username="lead1")
    member = make_user("duty", username="duty1")
    make_user("technician", username="tech1")
    with db.session() as s:
        duty.create_team(s, code="desk", name="城运中心服务台")
        c1 = duty.create_contact(s, name="王班长", phone="13900000011", wecom_userid="wang", username=lead,
                                 team_code="desk")
        c2 = duty.create_contact(s, name="李值班", phone="13900000012", wecom_userid="li", username=member,
                                 team_code="desk")
        boss = duty.create_contact(s, name="张经理", phone="13900000013", wecom_userid="zhang", team_code="desk")
        duty.update_team(s, "desk", manager_id=boss.id)
        for c, role in ((c1, "leader"), (c2, "member")):
            duty.create_shift(s, contact_id=c.id, team_code="desk", role=role, starts_at=T0 - timedelta(hours=12),
                              ends_at=T0 + timedelta(hours=12))
        desk.update_settings(s, actor="test", team_code="desk")
    return {"leader": lead, "member": member, "manager": "张经理"}


def sms_channel(s):
    from cityops.notify import service as notify

    return notify.create_channel(s, kind="wecom", name="值班群", settings={"webhook_key": "k"})
