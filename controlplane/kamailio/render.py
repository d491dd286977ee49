"""Render kamailio-cfg/kamailio.cfg for one installation (or one test run); the template is found by
controlplane.config_templates (the installed package's copy, or the checkout's kamailio-cfg/).

The repository config carries a settings block between two marker lines; rendering replaces
that block with `#!substdef` / `#!define` lines computed from Settings, and leaves every route
untouched, so the rendered file reads exactly like the one in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from controlplane.config_templates import template_dir
from controlplane.errors import DomainError
from controlplane.settings import Settings, get_settings

CFG_TEMPLATE = "kamailio.cfg"  # in the kamailio-cfg template folder
BEGIN = "# ----- settings begin"
END = "# ----- settings end -----"


class RenderError(DomainError):
    """Settings that cannot make a working config (shown as a one-line CLI error)."""


@dataclass(frozen=True)
class Rendered:
    path: Path
    tls_cert: Path | None
    tls_key: Path | None


def kamailio_db_url(settings: Settings) -> str:
    """Kamailio's db_mysql URL (mysql://user:pass@host:port/db) for our DATABASE_URL."""
    if settings.kamailio_db_url:
        return settings.kamailio_db_url
    url = make_url(settings.database_url)
    auth = url.username or "root"
    if url.password:
        auth += f":{url.password}"
    return f"mysql://{auth}@{url.host or '127.0.0.1'}:{url.port or 3306}/{url.database}"


def settings_block(settings: Settings, tls_cert: str = "", tls_key: str = "") -> str:
    """The lines that replace the settings block: one substdef per value, one define per feature."""
    values = {
        "CP_LISTEN_IP": settings.kamailio_listen_ip,
        "CP_ADVERTISE": settings.kamailio_advertise or settings.kamailio_listen_ip,
        "CP_SIP_PORT": settings.kamailio_sip_port,
        "CP_TLS_PORT": settings.kamailio_tls_port,
        "CP_WS_PORT": settings.kamailio_ws_port,
        "CP_WSS_PORT": settings.kamailio_wss_port,
        "CP_RPC_IP": settings.kamailio_rpc_ip,
        "CP_RPC_PORT": settings.kamailio_rpc_port,
        "CP_DBURL": kamailio_db_url(settings),
        "CP_TLS_CERT": tls_cert,
        "CP_TLS_KEY": tls_key,
        "CP_UDP_CHILDREN": settings.kamailio_children,
        "CP_TCP_CHILDREN": settings.kamailio_tcp_children,
        "CP_FS_SETID": settings.kamailio_fs_setid,
        "CP_DS_PING_INTERVAL": settings.kamailio_ds_ping_interval,
        "CP_DS_PROBING_THRESHOLD": settings.kamailio_ds_probing_threshold,
        "CP_FR_TIMER": settings.kamailio_fr_timer,
        "CP_FR_INV_TIMER": 60000,
        "CP_BAN_FAILS": settings.kamailio_ban_fails,
        "CP_BAN_WINDOW": settings.kamailio_ban_window,
        "CP_BAN_TIME": settings.kamailio_ban_time,
        "CP_LONG_BAN_FAILS": settings.kamailio_long_ban_fails,
        "CP_LONG_BAN_WINDOW": settings.kamailio_long_ban_window,
        "CP_LONG_BAN_TIME": settings.kamailio_long_ban_time,
        "CP_TCP_LIFETIME": settings.kamailio_tcp_lifetime,
        "CP_DIALOG_TIMEOUT": settings.kamailio_dialog_timeout,
        "CP_PIKE_SAMPLING": settings.kamailio_pike_sampling,
        "CP_PIKE_DENSITY": settings.kamailio_pike_density,
        "CP_NATPING_INTERVAL": settings.kamailio_natping_interval,
        "CP_RTPENGINE_NG": settings.rtpengine_ng,
    }
    lines = [f"{BEGIN} (rendered by `controlplane kamailio render`) -----"]
    for name, value in values.items():
        text = str(value)
        if "!" in text or "\n" in text:
            raise RenderError(f"{name}: value {text!r} may not contain '!' or a newline")
        lines.append(f'#!substdef "!{name}!{text}!g"')
    features = {
        "WITH_AUTH": settings.kamailio_auth,
        "WITH_ANTIFLOOD": settings.kamailio_antiflood,
        "WITH_TLS": settings.kamailio_tls,
        "WITH_WEBSOCKETS": settings.kamailio_websockets,
        "WITH_UAC": settings.kamailio_uac,
        "WITH_VERSION": settings.kamailio_show_version,
        "WITH_RTPENGINE": settings.kamailio_rtpengine,
    }
    for name, on in features.items():
        lines.append(f"#!define {name}" if on else f"##!define {name}  (off)")
    lines.append(END)
    return "\n".join(lines) + "\n"


def render_text(template: str, block: str) -> str:
    start = template.find(BEGIN)
    stop = template.find(END)
    if start < 0 or stop < start:
        raise RenderError("kamailio.cfg has no settings block (marker lines missing)")
    return template[:start] + block + template[stop + len(END) + 1:]


def ensure_tls_pair(run_dir: Path, cert: str = "", key: str = "") -> tuple[Path, Path]:
    """The configured certificate, or a self-signed one generated once in run_dir (openssl)."""
    if cert and key:
        return Path(cert), Path(key)
    crt_path, key_path = run_dir / "tls.crt", run_dir / "tls.key"
    if crt_path.exists() and key_path.exists():
        return crt_path, key_path
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RenderError("openssl not found: install it or set CP_KAMAILIO_TLS_CERT and CP_KAMAILIO_TLS_KEY")
    run_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-subj", "/CN=controlplane-sip-edge",
         "-keyout", str(key_path), "-out", str(crt_path)],
        check=True, capture_output=True, timeout=60,
    )
    key_path.chmod(0o600)
    return crt_path, key_path


def render(out: str | Path | None = None, settings: Settings | None = None) -> Rendered:
    """Write the effective config; returns where it went (default: <run dir>/kamailio.cfg)."""
    settings = settings or get_settings()
    run_dir = Path(settings.kamailio_run_dir).resolve()
    path = Path(out) if out else run_dir / "kamailio.cfg"
    cert = key = None
    if settings.kamailio_tls:
        cert, key = ensure_tls_pair(run_dir, settings.kamailio_tls_cert, settings.kamailio_tls_key)
    block = settings_block(settings, str(cert or ""), str(key or ""))
    text = render_text(template_dir("kamailio-cfg").joinpath(CFG_TEMPLATE).read_text(encoding="utf-8"), block)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return Rendered(path=path, tls_cert=cert, tls_key=key)


def command(cfg: str | Path, run_dir: str | Path, *, foreground: bool = True, pid_file: str | Path | None = None,
            shm_mb: int = 64, pkg_mb: int = 8) -> list[str]:
    """The one Kamailio command line: every start (up, tests, lab, benchmarks) logs the same way.

    `--log-engine=json:M` makes every log line one JSON object with the message escaped, so bytes
    a packet carries (CR, LF) can never forge a line; it exists only as a command-line option.
    """
    settings = get_settings()
    argv = [settings.kamailio_bin, "-f", str(cfg), "-w", str(run_dir), "-m", str(shm_mb), "-M", str(pkg_mb),
            "-E", "--log-engine=json:M"]
    if foreground:
        argv.insert(1, "-DD")
    if pid_file is not None:
        argv += ["-P", str(pid_file)]
    return argv


def check(path: str | Path, settings: Settings | None = None) -> subprocess.CompletedProcess[str]:
    """`kamailio -c -f path`: parses the config and loads the modules (it connects to the DB)."""
    settings = settings or get_settings()
    return subprocess.run([settings.kamailio_bin, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)
