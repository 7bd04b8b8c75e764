"""`cityops callout test-call`: one real test call through a SIP gateway, printed as one JSON
object (CALL-3 line tests; CALL-1 for the result normalisation)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cityops.callout.sip.client import place_call_sync


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT, e.g. 10.20.0.11:5060")
    return host, int(port)


@click.command("test-call")
@click.option("--sip", "sip_target", required=True, help="gateway HOST:PORT")
@click.option("--number", required=True, help="number to dial")
@click.option("--caller-id", default=None)
@click.option("--user", "username", default=None, help="digest user name")
@click.option("--password", default=None, help="digest password")
@click.option("--ring-timeout", default=30.0, show_default=True, type=float, help="seconds")
@click.option("--max-call", default=60.0, show_default=True, type=float, help="seconds")
@click.option("--dtmf-digits", default=1, show_default=True, type=int,
              help="hang up after this many key presses (0: after the prompt)")
@click.option("--prompt", "prompt_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="raw 8 kHz 16-bit mono PCM to play")
@click.option("--local-ip", default="127.0.0.1", show_default=True,
              help="address the gateway can reach us at (SIP and RTP)")
def test_call(sip_target, number, caller_id, username, password, ring_timeout, max_call,
              dtmf_digits, prompt_file, local_ip):
    """Place one test call and print the normalised result as JSON."""
    host, port = _host_port(sip_target)
    if bool(username) != bool(password):
        raise click.UsageError("--user and --password go together")
    prompt = Path(prompt_file).read_bytes() if prompt_file else None
    result = place_call_sync(host, port, number, caller_id=caller_id, username=username,
                             password=password, prompt_pcm=prompt, ring_timeout_s=ring_timeout,
                             max_call_s=max_call, collect_dtmf=dtmf_digits, local_ip=local_ip)
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
