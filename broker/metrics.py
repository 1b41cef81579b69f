"""Every series the broker exports to Prometheus (served by broker/monitoring). The packages count
into them. Labels take a bounded set of values (a kind, a state, a route rule, a guacd instance of
the tier), never a person, a desktop or a token.

Under `broker serve` the gunicorn workers write their figures to files (prometheus_client's
multiprocess mode, set up in broker/serve.py before this is first imported) and any worker answers
a scrape with the sum of all of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SECONDS_TO_START = (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120)
SECONDS_TO_SHAKE_HANDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)

DESKTOP_START_SECONDS = Histogram(
    "deskbroker_desktop_start_duration_seconds",
    "From a start to the desktop answering on VNC, by how it started: cold (a new container), "
    "stopped (its container started again), pool (a warm one taken), pool_fill (the pool warming one up).",
    ["kind"],
    buckets=SECONDS_TO_START,
)
DESKTOP_START_FAILURES = Counter(
    "deskbroker_desktop_start_failures_total", "Starts that ended in an error, by kind.", ["kind"]
)

TUNNELS_OPEN = Gauge(
    "deskbroker_tunnels_open",
    "Guacamole tunnels relaying now in this broker, by mode (control: the owner; view: a watcher).",
    ["mode"],
    multiprocess_mode="livesum",
)
TUNNELS_OPENED = Counter("deskbroker_tunnels_opened_total", "Guacamole tunnels opened, by mode.", ["mode"])
TUNNEL_BYTES = Counter(
    "deskbroker_tunnel_bytes_total",
    "Guacamole protocol bytes relayed, by direction (to_browser, from_browser); counted twice a second.",
    ["direction"],
)
TUNNEL_ENDS = Counter(
    "deskbroker_tunnel_ends_total",
    "Tunnels ended or refused, by reason and the Guacamole status the viewer was given (none: a plain close).",
    ["reason", "status"],
)
HANDSHAKE_WAIT_SECONDS = Histogram(
    "deskbroker_guacd_handshake_wait_seconds",
    "Time a tunnel waited for its turn to shake hands with guacd (handshakes to one guacd take turns).",
    ["guacd"],
    buckets=SECONDS_TO_SHAKE_HANDS,
)
HANDSHAKE_SECONDS = Histogram(
    "deskbroker_guacd_handshake_duration_seconds",
    "guacd's handshakes that succeeded, from `select` to `ready`, by guacd instance (a failed one is a "
    "refused tunnel end).",
    ["guacd"],
    buckets=SECONDS_TO_SHAKE_HANDS,
)

HOUSEKEEPING_SECONDS = Histogram(
    "deskbroker_housekeeping_duration_seconds",
    "One housekeeping pass, by outcome (ok, skipped: the engine or database unreachable, failed).",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
HOUSEKEEPING_LEADER = Gauge(
    "deskbroker_housekeeping_leader",
    "1 in the broker whose worker holds the housekeeping lease (one of all brokers at a time), else 0.",
    multiprocess_mode="livesum",
)
HOUSEKEEPING_FINDINGS = Counter(
    "deskbroker_housekeeping_findings_total",
    "What housekeeping found and did (adopted, ended, vanished, idle_stopped, ...).",
    ["finding"],
)

HTTP_SECONDS = Histogram(
    "deskbroker_http_request_duration_seconds",
    "HTTP requests by route rule (unmatched: no route), method and status; the tunnel is not a request here.",
    ["route", "method", "status"],
)

FILE_BYTES = Counter(
    "deskbroker_file_bytes_total", "File manager bytes, by direction (in: uploads, out: downloads).", ["direction"]
)
