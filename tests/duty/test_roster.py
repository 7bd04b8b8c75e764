"""Rotations, overrides, swaps, special periods, coverage and who is on duty (SVC-1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import SHANGHAI
from cityops.duty import coverage, roster, rotation, service
from cityops.duty.models import Shift
from cityops.inspections import findings

START = date(2026, 5, 1)
BEFORE = datetime(2026, 4, 30, tzinfo=timezone.utc)  # "now" before the service period


def bj(y, m, d, h=0, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


def team_of_nine(s):
    """SVC-1: 4 duty officers rolling day/night/off/off, 4 technical support on call weekly."""
    service.create_team(s, code="centre", name="城运中心值班组")
    service.create_team(s, code="support", name="技术支撑组")
    officers = [service.create_contact(s, name=f"值班员{i}", phone=f"1380000001{i}", team_code="centre")
                for i in range(4)]
    support = [service.create_contact(s, name=f"技术{i}", phone=f"1380000002{i}", team_code="support")
               for i in range(4)]
    r1 = rotation.create_rotation(s, name="四班轮换", team_code="centre", members=[c.id for c in officers],
                                  slots=rotation.DAY_NIGHT, cycle=rotation.DAY_NIGHT_CYCLE, start_date=START)
    r2 = rotation.create_rotation(s, name="周值守", team_code="support", role="support", kind="weekly",
                                  members=[c.id for c in support], start_date=START)
    return officers, support, r1, r2


def test_cycle_rotation_generates_day_and_night_shifts(db):
    with db.session() as s:
        officers, _, r1, _ = team_of_nine(s)
        out = rotation.generate(s, r1.id, START, date(2026, 5, 4), now=BEFORE)
        assert out == {"created": 8, "removed": 0, "skipped": 0}
        shifts = service.list_shifts(s, start=bj(2026, 5, 1), end=bj(2026, 5, 3), team="centre")
        got = [(sh.contact_id, sh.starts_at.astimezone(SHANGHAI).strftime("%d %H:%M"),
                sh.ends_at.astimezone(SHANGHAI).strftime("%d %H:%M")) for sh in shifts]
        o = [c.id for c in officers]
        # member 0 starts with a day shift; member 3 (three days "ahead") with the night
        assert got[:4] == [(o[0], "01 08:30", "01 20:30"), (o[3], "01 20:30", "02 08:30"),
                           (o[1], "02 08:30", "02 20:30"), (o[0], "02 20:30", "03 08:30")]
        assert all(sh.source == "rotation" and sh.rotation_id == r1.id for sh in shifts)


def test_weekly_rotation_hands_over_at_the_handover_time(db):
    with db.session() as s:
        _, support, _, r2 = team_of_nine(s)
        assert rotation.generate(s, r2.id, START, date(2026, 5, 21), now=BEFORE)["created"] == 3
        on = service.on_duty(s, team="support", at=bj(2026, 5, 8, 8, 29))
        assert [c.id for _, c in on] == [support[0].id]
        on = service.on_duty(s, team="support", at=bj(2026, 5, 8, 8, 30))
        assert [c.id for _, c in on] == [support[1].id]


def test_regenerating_replaces_future_rotation_shifts_and_keeps_manual_ones(db):
    with db.session() as s:
        officers, _, r1, _ = team_of_nine(s)
        rotation.generate(s, r1.id, START, date(2026, 5, 10), now=BEFORE)
        extra = service.create_contact(s, name="临时", phone="13800000099", team_code="centre")
        manual = service.create_shift(s, contact_id=extra.id, team_code="centre", starts_at=bj(2026, 5, 6, 9),
                                      ends_at=bj(2026, 5, 6, 12))
        now = bj(2026, 5, 5, 12)
        rotation.update_rotation(s, r1.id, members=[officers[1].id, officers[0].id, officers[2].id,
                                                    officers[3].id])
        out = rotation.generate(s, r1.id, START, date(2026, 5, 10), now=now)
        assert out["removed"] == out["created"] == 11  # 5 May night … 10 May night
        assert s.get(Shift, manual.id) is not None
        # the started day shift of 5 May kept its person; the swapped order applies from its night
        day5 = service.on_duty(s, team="centre", at=bj(2026, 5, 5, 12))
        assert [c.id for _, c in day5] == [officers[0].id]
        again = rotation.generate(s, r1.id, START, date(2026, 5, 10), now=now)
        assert again == {"created": 11, "removed": 11, "skipped": 0}  # idempotent


def test_rotation_rejects_bad_input(db):
    with db.session() as s:
        officers, _, _, _ = team_of_nine(s)
        ids = [c.id for c in officers]
        with pytest.raises(Invalid, match="循环"):
            rotation.create_rotation(s, name="x", team_code="centre", members=ids, slots=rotation.DAY_NIGHT,
                                     cycle=["D", "X"], start_date=START)
        with pytest.raises(Invalid, match="HH:MM"):
            rotation.create_rotation(s, name="x", team_code="centre", members=ids, cycle=["D"], start_date=START,
                                     slots=[{"code": "D", "start": "8:30", "end": "20:30"}])
        with pytest.raises(Invalid, match="成员"):
            rotation.create_rotation(s, name="x", team_code="centre", members=[], kind="weekly", start_date=START)
        with pytest.raises(NotFound):
            rotation.generate(s, 999, START, START)


def test_coverage_of_a_full_year_finds_exactly_a_deleted_night_shift(db):
    with db.session() as s:
        _, _, r1, r2 = team_of_nine(s)
        rotation.update_rotation(s, r1.id, start_date=date(2026, 4, 28))  # running before the period starts
        rotation.update_rotation(s, r2.id, start_date=date(2026, 4, 24))
        rotation.generate(s, r1.id, date(2026, 4, 30), date(2027, 4, 30), now=BEFORE - timedelta(days=1))
        rotation.generate(s, r2.id, date(2026, 4, 24), date(2027, 4, 30), now=BEFORE - timedelta(days=7))
        # the service period begins at 00:00 on 1 May: the night of 30 April and the on-call week cover it
        full = coverage.coverage(s)  # its speed: `cityops bench roster-coverage` (docs/benchmarks.md)
        assert full["hours"] == 8760 and full["gaps"] == []
        night = s.scalars(select(Shift).where(Shift.starts_at == bj(2026, 8, 8, 20, 30))).one()
        service.delete_shift(s, night.id)
        gaps = coverage.coverage(s)["gaps"]
        assert [(g["start"], g["end"]) for g in gaps] == [(bj(2026, 8, 8, 20, 30), bj(2026, 8, 9, 8, 30))]
        assert gaps[0]["missing"] == [{"label": "值班员", "need": 1, "have": 0}]


def test_special_period_needs_extra_people_and_posts(db):
    with db.session() as s:
        officers, _, r1, r2 = team_of_nine(s)
        rotation.generate(s, r1.id, START, date(2026, 5, 31), now=BEFORE)
        rotation.generate(s, r2.id, START, date(2026, 5, 31), now=BEFORE)
        roster.create_period(s, name="城市测评", kind="evaluation", starts_on=date(2026, 5, 20),
                             ends_on=date(2026, 5, 20),
                             requirements=[{"role": "duty", "count": 2}, {"post": "移动单兵", "role": "duty"}])
        gaps = coverage.coverage(s, bj(2026, 5, 19), bj(2026, 5, 22))["gaps"]
        assert [(g["start"], g["end"]) for g in gaps] == [(bj(2026, 5, 20), bj(2026, 5, 21))]
        assert {m["label"]: (m["need"], m["have"]) for m in gaps[0]["missing"]} == {"值班员": (2, 1),
                                                                                     "移动单兵": (1, 0)}
        # a dedicated 移动单兵 for the whole day fills both
        extra = service.create_contact(s, name="单兵", phone="13800000098", team_code="centre")
        for h in (0, 12):
            service.create_shift(s, contact_id=extra.id, team_code="centre", post="移动单兵",
                                 starts_at=bj(2026, 5, 20, h), ends_at=bj(2026, 5, 20, h) + timedelta(hours=12))
        assert coverage.coverage(s, bj(2026, 5, 19), bj(2026, 5, 22))["gaps"] == []
        with pytest.raises(Invalid, match="至少需要一条"):
            roster.create_period(s, name="x", starts_on=START, ends_on=START, requirements=[])
        with pytest.raises(Invalid, match="不能早于"):
            roster.create_period(s, name="x", starts_on=START, ends_on=START - timedelta(days=1),
                                 requirements=[{"role": "duty", "count": 2}])


def test_holidays_are_offered_as_special_periods(db):
    with db.session() as s:
        offers = roster.holiday_offers(s)
        national = next(o for o in offers if o["name"] == "国庆节")
        assert national["starts_on"] == date(2026, 10, 1) and national["ends_on"] >= date(2026, 10, 7)
        roster.create_period(s, name="国庆节", starts_on=national["starts_on"], ends_on=national["ends_on"],
                             requirements=[{"role": "duty", "count": 2}])
        assert next(o for o in roster.holiday_offers(s) if o["name"] == "国庆节")["exists"] is True


def test_gap_job_raises_and_clears_findings(db):
    with db.session() as s:
        _, _, r1, r2 = team_of_nine(s)
        rotation.update_rotation(s, r1.id, start_date=date(2026, 4, 28))  # running before the period starts
        rotation.update_rotation(s, r2.id, start_date=date(2026, 4, 24))
        rotation.generate(s, r1.id, date(2026, 4, 30), date(2026, 5, 31), now=BEFORE - timedelta(days=1))
        rotation.generate(s, r2.id, date(2026, 4, 24), date(2026, 5, 31), now=BEFORE - timedelta(days=7))
        night = s.scalars(select(Shift).where(Shift.starts_at == bj(2026, 5, 8, 20, 30))).one()
        keep = dict(contact_id=night.contact_id, team_code="centre", starts_at=night.starts_at, ends_at=night.ends_at)
        service.delete_shift(s, night.id)
        now = bj(2026, 5, 2, 9)
        assert coverage.check_gaps(s, now=now) == {"gaps": 1, "cleared": 0}
        rows, _ = findings.list_findings(s, source="plan")
        assert [(f.key, f.severity, f.ticket_id) for f in rows] == [("roster-gap:2026-05-08T20:30+08:00", "major",
                                                                    None)]
        assert coverage.check_gaps(s, now=now + timedelta(hours=1))["gaps"] == 1  # same finding again
        assert findings.list_findings(s, source="plan")[0][0].occurrences == 2
        service.create_shift(s, **keep)
        assert coverage.check_gaps(s, now=now + timedelta(days=1)) == {"gaps": 0, "cleared": 1}


def test_override_hides_the_replaced_person_and_the_router_picks_the_stand_in(db):
    from cityops.notify.engine import recipients

    with db.session() as s:
        officers, _, r1, _ = team_of_nine(s)
        rotation.generate(s, r1.id, START, date(2026, 5, 3), now=BEFORE)
        step = {"targets": [{"kind": "team", "team": "centre"}]}
        at = bj(2026, 5, 1, 10)
        people, gaps = recipients(s, step, None, at)
        assert [c.id for c in people] == [officers[0].id] and gaps == []
        sub = service.create_contact(s, name="替班人", phone="13800000097", team_code="centre")
        roster.create_override(s, contact_id=officers[0].id, replacement_id=sub.id, starts_at=bj(2026, 5, 1, 9),
                               ends_at=bj(2026, 5, 1, 14), reason="病假")
        assert [c.id for c in recipients(s, step, None, at)[0]] == [sub.id]
        assert [c.id for c in recipients(s, step, None, bj(2026, 5, 1, 15))[0]] == [officers[0].id]
        now = service.on_duty_now(s, now=at)
        assert now == [{"team": "centre", "team_name": "城运中心值班组", "role": "member", "role_label": "值班员",
                        "post": "", "name": "替班人", "phone": "138****0097", "until": bj(2026, 5, 1, 14),
                        "stand_in_for": "值班员0"}]
        with pytest.raises(Conflict):
            roster.create_override(s, contact_id=officers[0].id, replacement_id=sub.id,
                                   starts_at=bj(2026, 5, 1, 13), ends_at=bj(2026, 5, 1, 15))
        with pytest.raises(Invalid, match="本人"):
            roster.create_override(s, contact_id=sub.id, replacement_id=sub.id, starts_at=at,
                                   ends_at=at + timedelta(hours=1))


def test_swap_needs_a_manager_and_survives_regeneration(db):
    with db.session() as s:
        officers, _, r1, _ = team_of_nine(s)
        rotation.generate(s, r1.id, START, date(2026, 5, 10), now=BEFORE)
        a = s.scalars(select(Shift).where(Shift.starts_at == bj(2026, 5, 6, 8, 30))).one()
        b = s.scalars(select(Shift).where(Shift.starts_at == bj(2026, 5, 7, 8, 30))).one()
        a_who, b_who = a.contact_id, b.contact_id
        now = bj(2026, 5, 2)
        swap = roster.request_swap(s, shift_a_id=a.id, shift_b_id=b.id, reason="家中有事", requested_by="duty1",
                                   now=now)
        assert swap.state == "pending"
        with pytest.raises(Conflict):
            roster.request_swap(s, shift_a_id=a.id, shift_b_id=b.id, requested_by="duty1", now=now)
        roster.decide_swap(s, swap.id, approve=True, decided_by="pm", now=now)
        assert (s.get(Shift, a.id).contact_id, s.get(Shift, b.id).contact_id) == (b_who, a_who)
        with pytest.raises(Conflict, match="已处理"):
            roster.decide_swap(s, swap.id, approve=False, decided_by="pm", now=now)
        rotation.generate(s, r1.id, START, date(2026, 5, 10), now=now)
        on6 = service.on_duty(s, team="centre", at=bj(2026, 5, 6, 12))
        assert [c.id for _, c in on6] == [b_who]
        with pytest.raises(Invalid, match="已开始"):
            roster.request_swap(s, shift_a_id=a.id, shift_b_id=b.id, requested_by="x", now=bj(2026, 5, 6, 9))
        from cityops.audit.models import AuditEntry  # the swap and the shift changes are audited

        assert s.query(AuditEntry).filter(AuditEntry.entity == "duty_swaps").count() >= 2
