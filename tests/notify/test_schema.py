"""The hand-written migration 0008 matches the duty and notification models on both
backends (IOT-5 / OPS-3), and the notification severities are the alarms' four levels."""

from __future__ import annotations


from cityops.duty import models as _duty  # noqa: F401
from cityops.monitoring.models import SEVERITIES
from cityops.notify import models as _notify  # noqa: F401
from cityops.notify.base import Notification, Severity

MINE = ("duty_teams", "duty_contacts", "duty_shifts", "notify_channels", "notify_policies", "notify_escalations",
        "notify_outbox")


def test_severities_are_the_alarm_levels():
    from cityops.notify import email, wecom

    assert tuple(s.value for s in Severity) == SEVERITIES
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    n = Notification(title="井盖异动", text="华阳路井盖位移", severity="major")
    assert "重要" in wecom.markdown_content(n) and "重要" in email.text_body(n) and "#fa541c" in email.html_body(n)
