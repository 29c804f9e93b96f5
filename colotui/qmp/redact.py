"""Secrets out of every record: the one table of what QEMU takes as a secret, and the redactor.

A transcript, a runbook, the REPL's history and its echo, and crash.log must never hold a
password in clear. What counts as a secret comes from QEMU's QAPI schemas (7.2, 10.0 and 11.1;
tests/qemu/test_secrets.py fails when a QEMU adds a member whose name says secret and this table
does not say which it is): argument members such as ``password``, the ``data`` of a ``secret``
object, a URI's userinfo, and the HMP commands that take a password. A secret is replaced by
`REDACTED` and nothing else changes, so a redacted message is still the same command: replay
and the runbook read it as they read any other.

Outbound messages go out several per second, so `redact_wire` parses only the bytes that could
hold a secret (`MAY_HOLD`) and hands back the very same bytes when nothing is redacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

#: What a secret is replaced with.
REDACTED = "<redacted>"

#: Argument members that hold a secret wherever they appear (QAPI names; matched without regard
#: to case or to ``_`` against ``-``).
SECRET_MEMBERS: Mapping[str, str] = {
    "password": "set_password, change-vnc-password, block_passwd (QEMU before 6.0)",
    "passphrase": "in no schema yet: the word qemu-img and other tools use",
    "cookie": "an HTTP cookie of the curl drivers (blockdev-add driver=http/https); cookie-secret is the safe form",
    "txcookie": "an L2TPv3 session cookie (netdev_add type=l2tpv3): it authenticates the tunnel's packets",
    "rxcookie": "the same, received",
}

#: Members that hold a secret in one command only (elsewhere the same name holds an id).
SECRET_IN_COMMAND: Mapping[str, frozenset[str]] = {
    "sev-inject-launch-secret": frozenset({"secret"}),  # the secret itself, for the guest
}

#: QOM types whose properties hold secret data (object-add, HMP object_add, -object), and those properties.
SECRET_PROPERTIES: Mapping[str, frozenset[str]] = {
    "secret": frozenset({"data"}),
    "secret-keyring": frozenset({"data"}),  # it has none today (its secret is in the kernel's keyring)
}

#: Commands whose arguments are mostly their secret: a line of one that cannot be read has each of its
#: words hidden (``change-vnc-password hunter2`` is no shorthand, but it is a password).
SECRET_COMMANDS = frozenset({"change-vnc-password", "set_password", "block_passwd", *SECRET_IN_COMMAND})

#: Members whose name says secret but that hold none (an id of a secret object, a file, a flag, a
#: count, public data), as the schemas document them; a new such name must be added here or above.
NOT_SECRET: Mapping[str, str] = {
    "key-secret": "the id of a secret object (LUKS, rbd, qcow2 encryption)",
    "password-secret": "the id of a secret object (curl, iscsi, ssh)",
    "proxy-password-secret": "the id of a secret object (curl)",
    "cookie-secret": "the id of a secret object (curl)",
    "passwordid": "the id of a secret object (tls-creds-x509's key password)",
    "keyid": "the id of the secret object that decrypts a secret's data",
    "new-secret": "the id of a secret object (x-blockdev-amend)",
    "old-secret": "the id of a secret object (x-blockdev-amend)",
    "secret": "the id of a secret object (x-blockdev-amend); sev-inject-launch-secret's is data (above)",
    "iv": "a secret's initialisation vector (public: the key is in the keyid object)",
    "cookie64": "a flag: 64-bit L2TPv3 cookies",
    "auth": "the authentication method (vnc, spice)",
    "auth-client-required": "the authentication methods rbd accepts",
    "skipauth": "a flag (add_client)",
    "cert-subject": "a certificate's subject (public)",
    "cert-chain": "SEV's certificate chain (public)",
    "dh-cert-file": "a file name (sev-guest)",
    "host-key-check": "the SSH host key's expected hash (public)",
    "key": "a key code (input-send-event) or a flow's key (rocker)",
    "keys": "key codes (send-key)",
    "keyslot": "a LUKS keyslot's number",
    "key-offset": "where a LUKS keyslot starts",
    "master-key-iters": "a LUKS iteration count",
    "pass": "a migration pass's number (MIGRATION_PASS)",
    "pass-discard-other": "a qcow2 flag",
    "pass-discard-request": "a qcow2 flag",
    "pass-discard-snapshot": "a qcow2 flag",
    "tls-authz": "the id of an authz object",
    "tls-creds": "the id of a tls-creds object",
    "tls-certs": "a flag (display-reload)",
    "user": "a user name (iscsi, rbd, ssh) or uid (nfs)",
    "username": "a user name (curl)",
    "proxy-username": "a user name (curl)",
    "sasl_username": "a client's user name (vnc)",
    "author-key-enabled": "a flag (sev-snp-guest, QEMU 10.0 on)",
    "id-auth": "SEV-SNP's ID authentication structure: signatures and public keys (QEMU 10.0 on)",
    "vhost-user": "a flag: passt's vhost-user mode (QEMU 11.1 on)",
}

#: Lower-cased bytes without any of these hold no secret by the rules below (tests/unit/test_secrets.py checks
#: the table's names): a name, a URI's ``@``, or a JSON escape that could spell one (``"p\u0061ssword"``).
#: Searched case-sensitively in a lower-cased copy: three times faster than ``re.IGNORECASE``.
MAY_HOLD = re.compile(rb"pass|secret|cookie|token|qom.set|@|\\u")
_MAY_HOLD_TEXT = re.compile(MAY_HOLD.pattern.decode())


def may_hold(text: str) -> bool:
    """False when ``text`` holds no secret for certain (nothing of what a secret needs is in it)."""
    return _MAY_HOLD_TEXT.search(text.lower()) is not None


def may_hold_bytes(data: bytes) -> bool:
    """`may_hold` for a message on the wire."""
    return MAY_HOLD.search(data.lower()) is not None


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


_SECRET = frozenset(_norm(n) for n in SECRET_MEMBERS)
_SECRET_IN_COMMAND = {_norm(c): frozenset(_norm(n) for n in names) for c, names in SECRET_IN_COMMAND.items()}
_SECRET_PROPERTIES = {_norm(t): names for t, names in SECRET_PROPERTIES.items()}


def is_secret_member(name: str, command: str | None = None) -> bool:
    """Whether argument member ``name`` holds a secret (of ``command``'s, at its top level, if given)."""
    key = _norm(name)
    return key in _SECRET or (command is not None and key in _SECRET_IN_COMMAND.get(_norm(command), ()))


def _secret_property(name: str) -> bool:
    """What qom-set may write that is a secret: a secret member, or the ``data`` of a secret object."""
    return _norm(name) in _SECRET or any(_norm(name) in names for names in _SECRET_PROPERTIES.values())


# -- structured: a QMP message -------------------------------------------------------------------


def redact_message(msg: Any) -> Any:
    """``msg`` (a QMP message as decoded JSON, either way) with every secret `REDACTED`: the very same
    object when it holds none, else a copy (``msg`` itself is never changed)."""
    if not isinstance(msg, dict):
        return _walk(msg, None)
    command = msg.get("execute", msg.get("exec-oob"))
    command = command if isinstance(command, str) else None
    out: dict[str, Any] | None = None
    for key, value in msg.items():
        new = redact_arguments(command, value) if key == "arguments" and command else _walk(value, None)
        if new is not value:
            out = dict(msg) if out is None else out
            out[key] = new
    return msg if out is None else out


def redact_arguments(command: str, arguments: Any) -> Any:
    """``command``'s ``arguments`` with every secret `REDACTED` (the same object when none is there)."""
    if not isinstance(arguments, dict):
        return _walk(arguments, None)
    redacted = _walk(arguments, command)
    written = arguments.get("property")  # qom-set writes the property it names
    if _norm(command) == "qom-set" and isinstance(written, str) and _secret_property(written) \
            and arguments.get("value") not in (None, REDACTED):
        redacted = {**redacted, "value": REDACTED}
    return redacted


def _walk(value: Any, command: str | None, extra: frozenset[str] = frozenset()) -> Any:
    """``value`` with its secrets redacted; ``command`` is given at the top of a command's arguments,
    ``extra``: more secret names at this level (a secret object's properties)."""
    if isinstance(value, str):
        new = redact_text(value) if may_hold(value) else value
        return value if new == value else new
    if isinstance(value, list):
        items = [_walk(item, None) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    qom_type = value.get("qom-type")
    if isinstance(qom_type, str):
        extra = extra | _SECRET_PROPERTIES.get(_norm(qom_type), frozenset())
    out: dict[str, Any] | None = None
    for key, item in value.items():
        name = _norm(key)
        if is_secret_member(name, command) or name in extra:
            new = item if item is None or item == REDACTED else REDACTED
        else:  # object-add's props (its form before QEMU 6.0) hold the object's properties
            new = _walk(item, None, extra if name == "props" else frozenset())
        if new is not item:
            out = dict(value) if out is None else out
            out[key] = new
    return value if out is None else out


def redact_value(value: Any) -> Any:
    """Any JSON value (a reply's, an event's) with its secrets redacted: a URI's userinfo, a
    ``password=…`` in a filename; the same object when it holds none."""
    return _walk(value, None)


def redact_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A transcript entry (``{"t", "vm", "dir", "msg"}``) with its message's secrets redacted, for what is
    made of a transcript written before colotui redacted (a runbook, an export, a replay)."""
    msg = entry.get("msg")
    redacted = redact_text(msg) if isinstance(msg, str) else redact_message(msg)
    return entry if redacted is msg else {**entry, "msg": redacted}


def redact_wire(data: bytes) -> bytes:
    """A message as it is on the wire, with its secrets redacted; ``data`` itself when it holds none
    (most messages: those are not even parsed)."""
    if not may_hold_bytes(data):
        return data
    try:
        msg = json.loads(data)
    except ValueError:  # not JSON (garbage): as text
        return redact_text(data.decode("utf-8", errors="replace")).encode()
    redacted = redact_message(msg)
    return data if redacted is msg else json.dumps(redacted, separators=(",", ":")).encode()


# -- text: an HMP command line, a REPL line, a note, a traceback ---------------------------------

#: One argument of an HMP command: a quoted string (with backslash escapes) or a word.
_ARG = r'(?:"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|[^\s"\']\S*)'
#: The HMP commands that take a password as a positional argument: (what precedes it, the password). The
#: words before it hold no ``=``: ``set_password protocol=vnc password=…`` is qmp-shell's shorthand.
_HMP_FORMS = tuple(re.compile(rf"(?<![\w-])({before})({_ARG})", re.IGNORECASE) for before in (
    r"change\s+vnc\s+passw(?:or)?d\s+",  # change vnc password X (passwd too)
    r"set_password\s+[^\s=]+\s+",  # set_password PROTOCOL X [-d display] [action]
    r"block_passwd\s+[^\s=]+\s+",  # block_passwd DEVICE X (QEMU before 6.0)
    r"qom-set\s+(?:-j\s+)?[^\s=]+\s+['\"]?(?:passw(?:or)?d|passphrase|data|cookie)['\"]?\s+",  # qom-set PATH PROP X
))
#: A userinfo in a URI (``nbd://user:pass@host``, ``iscsi://user%pass@host``): up to the last ``@`` of the token.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s\"'<>,/?#]*)@")
#: ``"key": value`` in JSON (or Python) text; the key may be written with escapes (``"pass\u0077ord"``).
_JSON_PAIR = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')(\s*:\s*)("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?"""
                        r"""|[^\s,{}\[\]"']+)""")
#: ``key=`` of ``key=value`` (qmp-shell's shorthand, QemuOpts' ``a=b,c=d``, ``--set NAME=VALUE``), and the value:
#: quoted, or up to a space or a comma (QemuOpts writes a comma in a value as ``,,``).
_OPTION_KEY = re.compile(r"(?<![\w.-])((?:[\w-]+\.)*[\w-]+)=")
_OPTION_VALUE = re.compile(r""""(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|(?:,,|[^\s,])*""")
#: In text (a command line, an option of another tool, a URL), these are secrets too: ``--vnc-password``,
#: ``?token=…`` (the address `colotui serve` prints; no QAPI member has the name).
_SECRET_SUFFIXES = ("-password", "-passphrase", "-passwd", "-token")
_TEXT_SECRETS = frozenset({"token"})
#: A JSON escape (``\u0065``), decoded where the context is judged.
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
#: A text about a secret object: its ``data`` is a secret there (``object_add secret,id=s,data=…``).
_SECRET_OBJECT = re.compile(r"(?i)(?<![\w-])secret(?:[_-]keyring)?(?![\w-])")


def _names_in(text: str) -> Callable[[str], bool]:
    """Which keys are secrets in ``text``: the secret members, and what its context makes one."""
    extra: set[str] = set()
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)  # ``s\u0065cret`` is a secret object too
    if _SECRET_OBJECT.search(text):
        extra.add("data")
    for command, names in _SECRET_IN_COMMAND.items():
        if command in text.lower():
            extra |= names
    return lambda key: (name := _norm(key).lstrip("-")) in _SECRET or name in _TEXT_SECRETS or name in extra \
        or name.endswith(_SECRET_SUFFIXES)


def _key(literal: str) -> str:
    if literal.startswith('"'):
        try:
            return str(json.loads(literal))
        except ValueError:
            pass
    return literal[1:-1]


def redact_text(text: str, found: list[str] | None = None) -> str:
    """``text`` with every secret the rules can see in it `REDACTED`: the password of the HMP commands
    that take one, a URI's userinfo, ``"password": …`` in JSON and ``password=…`` options (and
    ``data`` where a secret object is named). ``found`` collects the secrets, as they were written."""
    if not may_hold(text):
        return text
    secret = _names_in(text)
    seen: list[str] = [] if found is None else found

    def hide(value: str, written: str = REDACTED) -> str:
        if not value or (value.startswith(REDACTED) and not value[len(REDACTED):].strip("'\")]},;")):
            return value  # nothing there (``tcp://@host``), or hidden already (quoted: ``'… <redacted>'``)
        if value not in _WRITTEN:
            seen.append(value)
        return written

    for form in _HMP_FORMS:
        text = form.sub(lambda m: m.group(1) + hide(m.group(2)), text)
    text = _USERINFO.sub(lambda m: m.group(1) + hide(m.group(2)) + "@", text)
    text = _JSON_PAIR.sub(lambda m: m.group(1) + m.group(2) + hide(m.group(3), _quoted_like(m.group(3)))
                          if secret(_key(m.group(1))) else m.group(0), text)
    return _options(text, secret, hide)


def _options(text: str, secret: Callable[[str], bool], hide: Callable[[str], str]) -> str:
    """``key=value`` with a secret key: the value hidden. A key that is not one is passed by its ``=`` only,
    so one inside its value is seen (``--set=vnc.password=…``)."""
    out, at = [], 0
    while (key := _OPTION_KEY.search(text, at)) is not None:
        if not any(secret(part) for part in key.group(1).split(".")):
            out.append(text[at:key.end()])
            at = key.end()
            continue
        value = _OPTION_VALUE.match(text, key.end())
        assert value is not None  # it matches the empty string too
        out.append(text[at:key.end()] + hide(value.group(0)))
        at = value.end()
    return "".join(out) + text[at:]


#: How `REDACTED` is written in text: it is hidden again as it was (and is no secret found).
_WRITTEN = frozenset({REDACTED, json.dumps(REDACTED), f"'{REDACTED}'"})


def _quoted_like(value: str) -> str:
    """`REDACTED` written as ``value`` was (a JSON string stays a JSON string)."""
    return json.dumps(REDACTED) if value.startswith('"') else f"'{REDACTED}'" if value.startswith("'") else REDACTED


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with its secrets redacted: each word as text, and in ``NAME=VALUE`` (``--set``) with a
    secret name, the whole value."""
    out = []
    for word in argv:
        name, sep, _ = word.partition("=")
        if sep and any(is_secret_member(part) for part in name.lstrip("-").split(".")):
            out.append(f"{name}={REDACTED}")
        else:
            out.append(redact_text(word))
    return out
