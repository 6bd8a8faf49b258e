"""`leerid worker`: delivers the queued back-channel logouts (idp.backchannel) until stopped, ends the SSO sessions
that timed out (idp.sessions: their platforms are told as after a click) and chains new audit records every second
(idp.audit.seal)."""
from __future__ import annotations

import signal
import threading

import click

from idp.cli import cli, container, emit, json_option


def in_background(services) -> threading.Event:
    """The worker as a thread of this process (`leerid serve`, and so `leerid demo`), sweeping timed-out sessions
    too; set the event to stop it."""
    stop = threading.Event()
    services.backchannel.start(stop, threads=1, poll=0.5)
    services.audit.keep_sealed(stop)
    return stop


@cli.command()
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Deliveries at once (a slow platform holds one thread up to 5 s).")
@json_option
def worker(threads, as_json):
    """Send the back-channel logouts, also for sessions that timed out (production; `leerid serve` runs one
    itself). Runs until stopped; any number of workers may share the queue (each timed-out session is taken by one)."""
    from idp import configure_logging

    c = container()
    configure_logging(c.settings.log_level, c.settings.log_format)
    c.store.ping()  # an unreachable Redis is a one-line error now, not a log line every second
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers = c.backchannel.start(stop, threads) + [c.audit.keep_sealed(stop)]
    if not as_json:
        click.echo(f"back-channel logout and session time-out worker: {threads} thread(s); Ctrl-C stops it", err=True)
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        stop.set()
    for thread in workers:
        thread.join()  # a delivery under way finishes (at most the HTTP timeouts)
    emit({"stopped": True, "threads": threads}, as_json, "back-channel logout worker stopped")
