"""Settings, read from the environment (and an optional `.env`), checked at start.

Every setting is one field of a section of `Settings` (`settings.desktops.instance`), and each
service is handed the section(s) it uses. A field's environment variable is
`DESKBROKER_<FIELD NAME IN CAPITALS>`, whatever its section. The README's configuration table and
`.env.example` are checked against this list by the tests, so they cannot drift.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

from broker.origins import origin_of

PREFIX = "DESKBROKER_"


class ConfigError(Exception):
    """One or more settings are missing or malformed; the message names each."""


# --- parsers: each takes the raw string and returns a value or raises ValueError -------


def _text(raw: str) -> str:
    return raw.strip()


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("at least 32 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
    return raw


def _url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("an http:// or https:// URL")
    return raw.strip().rstrip("/")


def _optional(parse: Callable[[str], str]) -> Callable[[str], str]:
    """`parse`, except that an empty value stays empty (the setting is off or derived)."""
    return lambda raw: parse(raw) if raw.strip() else ""


_optional_url = _optional(_url)


def _database_url(raw: str) -> str:
    raw = raw.strip()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", raw):
        raise ValueError("a SQLAlchemy URL: sqlite:///path/to/file.db or postgresql://user:pass@host/db")
    return raw


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _auto_bool(raw: str) -> bool | None:
    return None if raw.strip().lower() == "auto" else _bool(raw)


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("a whole number") from None
    if value < 1:
        raise ValueError("a whole number of at least 1")
    return value


def _non_negative_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("a whole number") from None
    if value < 0:
        raise ValueError("a whole number of at least 0")
    return value


_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(raw: str) -> int:
    """'1048576', '500K', '200M', '2G', '1T' (binary units, an optional trailing B) -> bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:([kmgt])i?)?b?\s*", raw.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError("a size such as 500M, 2G or 1T")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2) or ""]


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str) -> int:
    """'90', '90s', '15m', '12h', '7d' -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", raw.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError("a duration such as 90s, 15m, 12h or 7d")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


def _listen(raw: str) -> str:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("HOST:PORT, e.g. 0.0.0.0:8080")
    return raw.strip()


def proxy_endpoint(url: str) -> tuple[str, int]:
    """(host, port) of an http:// proxy URL; ValueError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("an http://HOST:PORT proxy address")
    return parts.hostname, parts.port or 80


def _proxy_url(raw: str) -> str:
    proxy_endpoint(raw)
    return raw.strip().rstrip("/")


def _node_engine(raw: str) -> str:
    """tcp://{address}:PORT: each Swarm node's engine, with {address} its address in the swarm."""
    value = raw.strip()
    if not value.startswith("tcp://") or "{address}" not in value:
        raise ValueError("a tcp:// URL naming {address}, e.g. tcp://{address}:2376")
    return value


def _cidr_list(raw: str) -> tuple[str, ...]:
    import ipaddress

    try:
        return tuple(str(ipaddress.IPv4Network(item, strict=False)) for item in _comma_list(raw))
    except ValueError:
        raise ValueError("IPv4 networks such as 203.0.113.7/32, comma separated") from None


def _word_list(raw: str) -> tuple[str, ...]:
    return tuple(item for item in re.split(r"[\s,]+", raw.strip()) if item)


def _comma_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _proxy_list(raw: str) -> tuple[str, ...]:
    """Addresses, networks (CIDR) or host names; a count of proxies (the old form) is refused."""
    import ipaddress

    items = _word_list(raw)
    if items == ("0",):
        return ()
    for item in items:
        if item.isdigit():
            raise ValueError(
                "addresses, networks or host names of the proxies (e.g. 127.0.0.1, "
                "172.18.0.0/16, nginx), not a count: a count let any client fake its address"
            )
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", item):
                raise ValueError(f"an address, network or host name, not {item!r}") from None
    return items


def _origin_list(raw: str) -> tuple[str, ...]:
    return tuple(origin_of(item) for item in _word_list(raw))


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return value

    return parse


def _instance(raw: str) -> str:
    # The instance prefixes container, service and volume names, which Swarm caps at 63 characters.
    value = raw.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,15}", value):
        raise ValueError("1 to 16 lowercase letters, digits or '-', starting with a letter or digit")
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("one of DEBUG, INFO, WARNING, ERROR")
    return value


def setting(help: str, parse: Callable[[str], Any] = _text, default: str | None = "", *, secret: bool = False) -> Any:
    """A field of a section of Settings. `default=None` makes the setting required."""
    return field(default=None, metadata={"help": help, "parse": parse, "raw_default": default, "secret": secret})


@dataclass(frozen=True)
class CoreSettings:
    secret_key: str = setting(
        "Signs sessions, tokens and encrypts stored desktop passwords. Required; keep it secret.",
        _secret_key,
        None,
        secret=True,
    )
    public_url: str = setting(
        "The address people open in the browser; used for the OIDC redirect and cookie flags.",
        _url,
        "http://localhost:8080",
    )
    listen: str = setting("Where `broker serve` listens.", _listen, "127.0.0.1:8080")
    workers: int = setting("gunicorn worker processes (gevent) for `broker serve`.", _positive_int, "1")
    trusted_proxies: tuple[str, ...] = setting(
        "Reverse proxies whose X-Forwarded-* headers are believed: addresses, networks or host names "
        "(e.g. 127.0.0.1, 172.18.0.0/16, nginx). Empty = none; any other client's headers are ignored.",
        _proxy_list,
        "",
    )
    allowed_origins: tuple[str, ...] = setting(
        "Web origins besides PUBLIC_URL's whose pages may open /tunnel (e.g. https://desk.other.example).",
        _origin_list,
        "",
    )
    data_dir: str = setting("Folder for the embedded SQLite database and other local state.", _text, "var")
    database_url: str = setting(
        "SQLAlchemy URL: postgresql://user:pass@host/db in production. Empty = SQLite in DATA_DIR.",
        _optional(_database_url),
        "",
        secret=True,
    )
    log_level: str = setting("DEBUG, INFO, WARNING or ERROR.", _log_level, "INFO")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            # A bare postgresql:// means psycopg 3 to SQLAlchemy 2.1; the broker ships (and
            # gevent-patches) psycopg2.
            return re.sub(r"^postgresql://", "postgresql+psycopg2://", self.database_url)
        return f"sqlite:///{Path(self.data_dir).resolve() / 'deskbroker.db'}"


@dataclass(frozen=True)
class AuthSettings:
    """Sessions and local accounts."""

    session_lifetime: int = setting("How long a sign-in lasts (e.g. 12h).", parse_duration, "12h")
    cookie_secure: bool | None = setting(
        "Send cookies only over HTTPS: true, false, or auto (= PUBLIC_URL is https).", _auto_bool, "auto"
    )
    local_login: bool = setting("Allow sign-in with local accounts (made by `broker users create`).", _bool, "true")
    login_max_failures: int = setting(
        "Failed local sign-ins of one account from one address before that pair is locked for "
        "LOGIN_LOCKOUT; past as many on an account from all addresses, each attempt waits a growing delay.",
        _positive_int,
        "5",
    )
    login_lockout: int = setting(
        "How long a locked pair or address waits; failures older than this without a newer one are forgotten.",
        parse_duration,
        "15m",
    )
    login_delay_max: int = setting(
        "Longest delay between attempts on one account under attack (doubling from 1 s).", parse_duration, "5m"
    )
    login_address_max_failures: int = setting(
        "Failed sign-ins from one address, to any accounts, before the address is locked for LOGIN_LOCKOUT.",
        _positive_int,
        "50",
    )


@dataclass(frozen=True)
class OidcSettings:
    """Single sign-on with OpenID Connect, and the groups that make admins and teachers."""

    oidc_client_id: str = setting("OIDC client id. Empty = single sign-on off.")
    oidc_client_secret: str = setting("OIDC client secret.", secret=True)
    oidc_discovery_url: str = setting(
        "The provider's .well-known/openid-configuration URL. Or set the four endpoints below.", _optional_url
    )
    oidc_issuer: str = setting("Issuer expected in ID tokens (explicit-endpoint setup).", _optional_url)
    oidc_authorize_url: str = setting("Authorization endpoint, e.g. https://SCHOOL/iserv/oauth/v2/auth.", _optional_url)
    oidc_token_url: str = setting("Token endpoint, e.g. https://SCHOOL/iserv/oauth/v2/token.", _optional_url)
    oidc_userinfo_url: str = setting(
        "Userinfo endpoint, e.g. https://SCHOOL/iserv/public/oauth/userinfo.", _optional_url
    )
    oidc_jwks_url: str = setting("Signing keys, e.g. https://SCHOOL/iserv/public/jwk.", _optional_url)
    oidc_scopes: str = setting("Scopes asked for.", _text, "openid profile email groups")
    oidc_groups_claim: str = setting("Claim holding the groups (list of names, or IServ's object).", _text, "groups")
    oidc_provider_name: str = setting("Name on the sign-in button.", _text, "IServ")
    admin_groups: tuple[str, ...] = setting(
        "Groups whose members are admins (space or comma separated).", _word_list, "admins"
    )
    teacher_groups: tuple[str, ...] = setting("Groups whose members are teachers.", _word_list, "teachers")

    @property
    def enabled(self) -> bool:
        return bool(self.oidc_client_id)


@dataclass(frozen=True)
class DesktopSettings:
    """Provisioning; the engine itself is found as the docker CLI finds it (DOCKER_HOST)."""

    desktop_provider: str = setting(
        "Where desktops run: docker (one engine) or swarm (Docker Swarm services).",
        _choice("docker", "swarm"),
        "docker",
    )
    instance: str = setting(
        "Name of this broker installation: labels and prefixes its containers, services and volumes.",
        _instance,
        "deskbroker",
    )
    desktop_network: str = setting(
        "Private network of desktops, broker, guacd and websockify (made if missing).", _text, "deskbroker-desktops"
    )
    desktop_network_internal: bool = setting(
        "Make that network internal: desktops reach neither the internet nor the LAN.", _bool, "true"
    )
    desktop_egress_network: str = setting(
        "Network that takes desktops whose type has egress `internet` or `proxy` out (made if missing, not "
        "internal; desktops only). Empty = DESKTOP_NETWORK-egress.",
        _text,
        "",
    )
    egress_proxy: str = setting(
        "The HTTP proxy (http://HOST:PORT) that desktops of `proxy` types go through, e.g. the school's web "
        "filter; they reach nothing else. Empty = no proxy types.",
        _optional(_proxy_url),
        "",
    )
    egress_deny: tuple[str, ...] = setting(
        "More networks (CIDR, comma separated) that `internet` desktops may not reach, e.g. the public "
        "addresses of other own hosts; private ranges and the engine host's own addresses are always refused.",
        _cidr_list,
        "",
    )
    netguard_image: str = setting(
        "The helper image that loads each desktop's network rules (guacd/netguard).",
        _text,
        "deskbroker/netguard:latest",
    )
    desktop_start_timeout: int = setting(
        "How long a desktop may take until its VNC server answers before the start counts as failed.",
        parse_duration,
        "60s",
    )
    launches_at_once: int = setting(
        "Desktops the broker processes of this host launch at once between them (create, network rules, "
        "start); the others wait their turn, at most DESKTOP_START_TIMEOUT. About one per core of the "
        "engine's host.",
        _positive_int,
        "2",
    )
    desktop_idle_timeout: int = setting("Stop a desktop after this long without input (e.g. 6h).", parse_duration, "6h")
    desktop_remove_after: int = setting(
        "Remove a stopped desktop's container after this long (its home volume is kept).", parse_duration, "7d"
    )
    housekeeping_interval: int = setting(
        "How often `broker serve` reconciles desktops with the engine, stops idle and removes old ones.",
        parse_duration,
        "60s",
    )
    desktops_per_user: int = setting("Desktops one person may have running at once.", _positive_int, "1")
    desktops_total: int = setting(
        "Desktops that may run at once on this installation (0 = no limit).", _non_negative_int, "0"
    )
    desktop_persistent_homes: bool = setting(
        "Give each person a home volume kept across desktops (mounted at /home/user).", _bool, "true"
    )
    desktop_pool_size: int = setting(
        "Pre-started desktops kept ready per type; needs DESKTOP_PERSISTENT_HOMES=false.", _non_negative_int, "0"
    )
    shared_volumes: str = setting(
        "A folder on shared storage (NFS, CephFS, ...) mounted at this same path on every node and in the "
        "broker: homes, the public space and assignment folders then keep their files there, one subfolder "
        "per volume, so a person's home follows them to any node. Empty: Docker's local volumes, each on "
        "the node that made it.",
        _text,
        "",
    )
    swarm_constraints: tuple[str, ...] = setting(
        "Swarm placement constraints for desktops, comma separated (e.g. node.labels.desktops==true).", _comma_list, ""
    )
    swarm_node_engine: str = setting(
        "How the broker reaches the engine of every other Swarm node, to load the network rules of the desktops "
        "placed there: tcp://{address}:2376, {address} being the node's address in the swarm (TLS only, see "
        "SWARM_NODE_TLS). Empty: desktops run only on the broker's own node.",
        _optional(_node_engine),
        "",
    )
    swarm_node_tls: str = setting(
        "Folder with ca.pem, cert.pem and key.pem (as DOCKER_CERT_PATH): the CA the nodes' engines prove "
        "themselves with, and the broker's client certificate for them.",
        _text,
        "",
    )

    @property
    def egress_network(self) -> str:
        return self.desktop_egress_network or f"{self.desktop_network}-egress"


@dataclass(frozen=True)
class TierSettings:
    """Connections: the translation tier (guacd, websockify)."""

    guacd_host: str = setting(
        "guacd's address as the broker reaches it (on the desktop network); a name that resolves to several "
        "addresses is a pool of them.",
        _text,
        "guacd",
    )
    guacd_port: int = setting("guacd's port.", _positive_int, "4822")
    guacd_hosts: tuple[str, ...] = setting(
        "A pool of guacd instances, comma separated host:port (or host, with guacd_port); each name stands "
        "for every address it resolves to. Empty: guacd_host alone (which may resolve to several, too).",
        _comma_list,
        "",
    )
    websockify_key: str = setting(
        "Key (≥ 32 characters) that signs noVNC tokens; websockify holds the same. Empty = noVNC off.",
        _optional(_secret_key),
        "",
        secret=True,
    )
    recording_dir: str = setting(
        "Where the broker finds the session recordings guacd writes (guacd's /recordings: one volume, "
        "writable for guacd, readable for the broker).",
        _text,
        "/var/lib/deskbroker/recordings",
    )
    recording_retention_days: int = setting(
        "Days a session recording is kept; housekeeping deletes older ones (0 = keep them).",
        _non_negative_int,
        "30",
    )


@dataclass(frozen=True)
class FilesSettings:
    """The file manager."""

    files_max_file_size: int = setting(
        "Largest single file the file manager accepts in an upload (e.g. 2G).", parse_size, "2G"
    )
    files_home_quota: int = setting(
        "How full uploads may make a person's home (e.g. 5G); the desktop itself is not limited by it.",
        parse_size,
        "5G",
    )
    files_public_quota: int = setting("How full uploads may make the public space (e.g. 20G).", parse_size, "20G")
    files_usage_max_entries: int = setting(
        'Files and folders a space\'s usage figure counts at most; beyond, the file manager says "at least".',
        _positive_int,
        "1000000",
    )
    files_list_max_entries: int = setting(
        "Entries the file manager lists of one folder at most; beyond, it says that more are left out.",
        _positive_int,
        "5000",
    )


@dataclass(frozen=True)
class MetricsSettings:
    """Monitoring: who may read /metrics."""

    metrics_token: str = setting(
        "Bearer token (≥ 32 characters) a Prometheus scraper sends to /metrics. Empty = by address only.",
        _optional(_secret_key),
        "",
        secret=True,
    )
    metrics_allowed_networks: tuple[str, ...] = setting(
        "Addresses that may read /metrics without the token (IPv4 networks, comma separated; empty = none).",
        _cidr_list,
        "127.0.0.1/32",
    )


@dataclass(frozen=True)
class ClassroomSettings:
    """The classroom: what teachers (and admins) may do with others' screens on this installation."""

    classroom_watching: bool = setting(
        "Teachers and admins may watch others' desktops (the classroom's pictures, view-only joins); "
        "false turns watching off for the installation.",
        _bool,
        "true",
    )
    classroom_control: bool = setting(
        "Teachers and admins may take control of a student's desktop to help; false turns it off for the installation.",
        _bool,
        "true",
    )


@dataclass(frozen=True)
class LessonSettings:
    """Lessons in the classroom: ending them, collecting hand-ins, opening things on every desktop."""

    lesson_end_warning: int = setting(
        "How long students are warned (a countdown in their viewer and dashboard) before a lesson's end "
        "stops their desktops.",
        parse_duration,
        "60s",
    )
    lesson_handin_folder: str = setting(
        "The folder in a student's home where they hand in an assignment's work: HANDIN_FOLDER/<assignment "
        "folder>; collecting copies it.",
        _text,
        "Abgabe",
    )
    lesson_open_command: str = setting(
        "The program a desktop runs, as its user, to open an address or file for everyone (argument: the "
        "address or path).",
        _text,
        "xdg-open",
    )


@dataclass(frozen=True)
class Settings:
    core: CoreSettings
    auth: AuthSettings
    oidc: OidcSettings
    desktops: DesktopSettings
    tier: TierSettings
    files: FilesSettings
    metrics: MetricsSettings
    classroom: ClassroomSettings
    lessons: LessonSettings

    @property
    def secure_cookies(self) -> bool:
        if self.auth.cookie_secure is not None:
            return self.auth.cookie_secure
        return self.core.public_url.startswith("https://")

    def secrets(self) -> list[str]:
        """Values that must never appear in logs or error messages."""
        values = (
            getattr(section, f.name) for section in self._sections() for f in fields(section) if f.metadata["secret"]
        )
        return [value for value in values if value]

    def _sections(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]


def _setting_fields() -> list[tuple[str, Any]]:
    """(section, field) for every setting, in the README's order."""
    return [(name, f) for name, section in get_type_hints(Settings).items() for f in fields(section)]


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def documented_settings() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting: the source of the README table."""
    return [(env_name(f.name), f.metadata["raw_default"] or "", f.metadata["help"]) for _, f in _setting_fields()]


def load_settings(environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env") -> Settings:
    """Read and check every setting; raise ConfigError naming each bad variable."""
    env: dict[str, str] = {}
    if dotenv and Path(dotenv).is_file():
        from dotenv import dotenv_values

        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    values: dict[str, Any] = {}
    problems: list[str] = []
    for _, f in _setting_fields():
        name = env_name(f.name)
        raw = env.get(name)
        if raw is None or (raw.strip() == "" and f.metadata["raw_default"] is None):
            raw = f.metadata["raw_default"]
            if raw is None:
                problems.append(f"{name} is not set: {f.metadata['help']}")
                continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            problems.append(f"{name} is malformed: expected {exc}")
    if not problems:
        problems.extend(_check_oidc(values) + _check_desktops(values))
    if problems:
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(problems))
    sections: dict[str, dict[str, Any]] = {}
    for section, f in _setting_fields():
        sections.setdefault(section, {})[f.name] = values[f.name]
    return Settings(**{name: section(**sections[name]) for name, section in get_type_hints(Settings).items()})


def _check_oidc(values: dict[str, Any]) -> list[str]:
    if not values["oidc_client_id"]:
        return []
    if values["oidc_discovery_url"]:
        return []
    explicit = ("oidc_issuer", "oidc_authorize_url", "oidc_token_url", "oidc_jwks_url")
    missing = [env_name(name) for name in explicit if not values[name]]
    if missing:
        return [
            f"{env_name('oidc_client_id')} is set, so sign-on needs {env_name('oidc_discovery_url')} "
            f"or all of: {', '.join(missing)}"
        ]
    return []


def _check_desktops(values: dict[str, Any]) -> list[str]:
    problems = []
    if values["desktop_pool_size"] and values["desktop_persistent_homes"]:
        problems.append(
            f"{env_name('desktop_pool_size')} needs {env_name('desktop_persistent_homes')}=false: "
            "a desktop started in advance cannot mount its future owner's home"
        )
    shared = values["shared_volumes"]
    if shared and not (Path(shared).is_absolute() and Path(shared).is_dir()):
        problems.append(
            f"{env_name('shared_volumes')} has to be an absolute path to a folder that exists here (the shared "
            f"storage mounted at the same path as on the nodes): {shared}"
        )
    if values["swarm_node_engine"]:
        # An engine's API is root on its node: never without TLS both ways.
        folder = values["swarm_node_tls"]
        missing = [name for name in ("ca.pem", "cert.pem", "key.pem") if not (folder and Path(folder, name).is_file())]
        if missing:
            problems.append(
                f"{env_name('swarm_node_engine')} needs {env_name('swarm_node_tls')}: a folder with "
                f"{', '.join(missing)} (the nodes' CA, the broker's client certificate and key)"
            )
    return problems
