"""Paths: artefacts proven inside their workspace folder, output files written safely.

Every function takes the folder that must contain the path (a workspace's audit folder, its
models folder, ...) rather than reading settings, so it works for any workspace object.

- `inside(root, candidate)`: the resolved path, only if it lies inside `root` after every
  `..` and symbolic link is followed; a run id or file name that would climb out (`../x`, an
  absolute path, a link planted inside the folder) is refused before anything is written.
- `no_link_below(anchor, folder)`: `folder` lies inside `anchor` and no part of the way from
  `anchor` down to it is a symbolic link (the anchor itself may be one); a workspace's folders
  are proven this way before a run or a subject command writes anything.
- `write_private(path, data, force)`: a file created with mode 0600, without following a
  link at its name, never over an existing file unless `force` (then the link or file is
  replaced, never written through).
- `git_work_tree(path)`: the git work tree a path lies in (a `.git` in it or a folder above), if any.
- `output_path(out, default_dir, default_name)`: what an `--out` value means: nothing = the
  default folder, an existing folder = a file inside it, anything else = that file.
- `written_file(value, label)`, `append_private(path, data)`: a file the workbench writes, named by
  a setting or an option, is a regular file or not there yet at its own name -- never a link
  (written through, the bytes would land in the file it points to), a folder, a device or a pipe.
- `user_path(value, label)`, `input_file(value, label)`: a path the user gave (a flag, a
  setting, a notebook parameter), refused in one line when it holds a control character, and
  for an input when it is not an existing regular file.
- `private_by_default()`: every file and folder this process and its children create from now on
  is its owner's only (umask 077): the database's WAL, executed notebooks, manifests, models,
  exports, logs -- the whole class, not a list of writers that each remember a chmod.
- `os_errors(label)`: every function here that resolves, creates or opens a path runs under it,
  so an error of the operating system on a user's path (a name too long, a file where a folder
  is needed, no permission) is a one-line UsageError naming the path and the reason (exit 2),
  never a traceback.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Iterator

from ..errors import UsageError
from .text import LINE_BREAKING

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700

# A line break of any kind or a control character in a file name breaks every line that prints
# it (a newline splits a message in two) and is never meant.
_CONTROL = LINE_BREAKING


def os_error_line(exc: OSError, label: str = "") -> str:
    """One line for an OSError on a path: the label (a flag or setting), the path, the OS's reason."""
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or exc.__class__.__name__
    return f"{label + ' ' if label else ''}{where}: {reason} (the operating system refused this path; nothing was changed)"


@contextlib.contextmanager
def os_errors(label: str = "") -> Iterator[None]:
    """Run path work whose OSError becomes the one-line UsageError of `os_error_line`."""
    try:
        yield
    except OSError as exc:
        raise UsageError(os_error_line(exc, label)) from None


def _text_of(value: str | Path, label: str) -> str:
    """The path as text, refused in one line naming `label` when it holds a control character,
    or bytes that are not UTF-8 (the OS hands them over as lone surrogates): printed, either
    breaks or garbles every line that shows the path."""
    text = str(value)
    bad = _CONTROL.search(text)
    if bad and "\ud800" <= bad.group() <= "\udfff":
        raise UsageError(f"{label} {ascii(text)}: the path is not valid UTF-8 (byte 0x{ord(bad.group()) - 0xdc00:02x} "
                         "of another encoding); rename the file or folder in UTF-8")
    if bad:
        raise UsageError(f"{label} {text!r}: a path with a control character (a line break, a tab); "
                         "name the file without one")
    if text != text.strip():
        # Invisible in every message and listing: `wb.duckdb ` would be a second database beside `wb.duckdb`.
        raise UsageError(f"{label} {text!r}: a path with a space at its start or end (not visible when shown); "
                         "name the file without it")
    return text


# The separators a path may end in; a file's name never does.
_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep)


def _names_a_file(text: str, label: str, example: str | None = "") -> None:
    """A value written as a folder (ending in a separator, `--db data/`, `--customers x.csv/`)
    where a file is meant is refused before anything is read or made: the OS would quietly drop
    the separator, or create a file named like the folder the user meant (`example`: a name the
    message offers inside it)."""
    if text.endswith(_SEPARATORS):
        inside_it = f", e.g. {text}{example}" if example else ("" if example is None else " inside it")
        raise UsageError(f"{label} {text}: ends in '{text[-1]}', so it names a folder where a file is meant; "
                         f"give the file's name{inside_it}")


def user_path(value: str | Path, label: str) -> Path:
    """A path given by the user, absolute (`~` expanded, links resolved); a control character in
    it, bytes that are not UTF-8, or a path the OS cannot even look at, is a one-line UsageError
    naming `label`."""
    text = _text_of(value, label)
    with os_errors(label):
        path = Path(text).expanduser().resolve()
    fits(path, label)
    return path


# Files kept beside the database take its name and add to it (`.<name>.folders.<pid>.tmp`,
# `.<name>.compact-<pid>`): its own name must leave room for them.
BESIDE_DATABASE = 24
_TOO_LONG = os.strerror(errno.ENAMETOOLONG)  # the operating system's own words, as for its refusals


def fits(path: Path, label: str, beside: int = 0) -> None:
    """The whole path within the limits of the file system it would live on, checked before any
    folder of it is made: every name at most NAME_MAX bytes (`beside` more for the last one, for
    files named after it), the whole at most PATH_MAX. The limits are asked of the nearest folder
    that exists (another file system may be mounted below)."""
    existing = next((p for p in (path, *path.parents) if _is_dir(p)), Path("/"))
    name_max = _limit(existing, "PC_NAME_MAX", 255)
    path_max = _limit(existing, "PC_PATH_MAX", 4096)
    parts = path.parts[1:]
    for i, part in enumerate(parts):
        size = len(os.fsencode(part)) + (beside if i == len(parts) - 1 else 0)
        if size > name_max:
            extra = f" (with {beside} for the files kept beside it)" if beside and i == len(parts) - 1 else ""
            raise UsageError(f"{label} {path}: {_TOO_LONG}: the name {part[:24]}... is {len(os.fsencode(part))} bytes long{extra}; "
                             f"this file system allows {name_max} per name; nothing was changed")
    if len(os.fsencode(str(path))) + beside >= path_max:
        raise UsageError(f"{label} {str(path)[:80]}...: {_TOO_LONG}: the path is longer than "
                         f"this file system allows ({path_max} bytes); nothing was changed")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long to look at: not an existing folder
        return False


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return default


def input_file(value: str | Path, label: str) -> Path:
    """An input the workbench reads (`--customers`, a data config, ...): an existing regular
    file. A pipe or a device (`/dev/stdin`) cannot be read twice (checked, then read), so it is
    refused as what it is, not as missing."""
    _names_a_file(_text_of(value, label), label, None)
    path = user_path(value, label)
    with os_errors(label):
        if not path.exists():
            raise UsageError(f"{label} {value}: file does not exist")
    regular_or_absent(path, label, value)
    return path


def written_file(value: str | Path, label: str, example: str = "") -> Path:
    """A file the workbench writes or appends to, named by a setting or an option (the database,
    the signing key, the heads file, the subject key and key store): absolute, its folder resolved
    (a folder may sit behind a link) but its own name not followed. A symbolic link at the name is
    refused, naming `label`, the path and where it points: written through, it would put the
    workbench's bytes into whatever file it points to (and keep that file's mode). A folder, a
    device or a pipe is refused as by `regular_or_absent`. A value written as a folder (ending in
    a separator, `--db data/`) is refused too, before anything exists there: taken as a file it
    would create one named like the folder the user meant (`example`: a name the message offers
    inside it). Pass the value as given (a str): `Path()` drops the trailing separator."""
    text = _text_of(value, label)
    _names_a_file(text, label, example)
    with os_errors(label):
        path = Path(os.path.abspath(Path(text).expanduser()))
        path = path.parent.resolve() / path.name
    fits(path, label)
    with os_errors(label):
        if path.is_symlink():
            raise UsageError(f"{label} {path}: is a symbolic link (-> {os.readlink(path)}); the workbench writes "
                             "this file itself, never through a link: name the file, not a link to it")
    regular_or_absent(path, label)
    return path


def append_private(path: str | Path, data: str, label: str = "") -> None:
    """Append `data` to `path` (created 0600 if new) without following a link at its name, and
    only to a regular file; on disk (fsync) when this returns."""
    with os_errors(label):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, PRIVATE_FILE)
        with os.fdopen(fd, "ab") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UsageError(f"{label + ' ' if label else ''}{path}: is not a regular file; give the file itself")
            fh.write(data.encode("utf-8"))
            fh.flush()
            os.fsync(fd)


def regular_or_absent(path: Path, label: str, shown: str | Path | None = None) -> None:
    """The rule for every path that names a file the workbench reads or writes as a whole (an
    input, the database): a regular file, or nothing there yet. A device (`/dev/null`), a named
    pipe or a socket is refused as what it is, before anything is opened or created beside it:
    opening a pipe blocks, a device swallows writes, and a lock file would land beside either."""
    with os_errors(label):
        if not (path.exists() or path.is_symlink()) or path.is_file():
            return
        kind = "a folder" if path.is_dir() else "a pipe, device or socket" if path.exists() else "a broken link"
    raise UsageError(f"{label} {shown if shown is not None else path}: is not a regular file ({kind}); "
                     "give the file itself")


def inside(root: str | Path, candidate: str | Path) -> Path:
    """`candidate` (relative paths are taken relative to `root`) resolved, if it lies inside `root`."""
    base = Path(root).resolve()
    path = Path(candidate)
    resolved = (path if path.is_absolute() else base / path).resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise UsageError(f"{candidate}: resolves to {resolved}, outside {base}; refusing to write there")
    return resolved


def no_link_below(anchor: str | Path, folder: str | Path, what: str = "workspace folder") -> Path:
    """`folder` as an absolute path, if it lies inside `anchor` with no symbolic link on the way
    from `anchor` down to it (folders not made yet count as plain: they will be created as
    folders). A link anywhere on the way would carry what is written there out of the
    workspace, so it is refused, naming the link, before anything is written."""
    base = Path(os.path.abspath(anchor))
    target = Path(os.path.abspath(folder))
    real_base = base.resolve()
    for start in (base, real_base):
        if target == start or target.is_relative_to(start):
            rest = target.relative_to(start).parts
            break
    else:
        raise UsageError(f"{folder}: a {what} outside the workspace {base}; refusing to write there")
    step = real_base
    for part in rest:
        step = step / part
        if step.is_symlink():
            raise UsageError(f"{step}: the {what} {target} is reached through a symbolic link "
                             f"(-> {os.readlink(step)}); a workspace writes only inside itself: "
                             "replace the link with a real folder")
        if not step.exists():
            break
        if not step.is_dir():
            raise UsageError(f"{step}: not a folder; the {what} {target} needs a folder there")
    return real_base.joinpath(*rest)


def database_file(path: str | Path, label: str = "the database setting (--db, WORKBENCH_DB)") -> Path:
    """A DuckDB file to open or create (`--db`, WORKBENCH_DB): not a folder, and a file that
    exists must be a DuckDB database (its header says DUCK), so a mistyped path is a one-line
    error, never a traceback from the database engine or a file taken over."""
    if "?" in str(path):
        # DuckDB reads what follows a '?' in a database path as connection options, and names
        # its write-ahead log by cutting the path there (`q.wal?x/wb.duckdb`).
        raise UsageError(f"{label} {path}: a database path cannot hold a '?' (DuckDB reads what follows it as "
                         "options); rename the folder or file")
    path = written_file(path, label, "workbench.duckdb")
    fits(path, label, BESIDE_DATABASE)
    with os_errors(label):
        if path.is_dir():
            raise UsageError(f"{path}: is a folder; {label} names the DuckDB file, e.g. {path / 'workbench.duckdb'}")
    regular_or_absent(path, label)
    with os_errors(label):
        _folders_on_the_way(path.parent, f"the database {path}")
        if path.is_file() and path.stat().st_size:
            with open(path, "rb") as fh:
                header = fh.read(12)
            if header[8:12] != b"DUCK":
                raise UsageError(f"{path}: not a DuckDB database file; {label} names the workbench's database "
                                 "(a new name creates one)")
    return path


def _folders_on_the_way(folder: Path, what: str) -> None:
    """The nearest part of `folder` that exists must be a folder: a file there (`a.txt/wb.duckdb`)
    can never hold `what`."""
    for step in (folder, *folder.parents):
        if step.exists():
            if not step.is_dir():
                raise UsageError(f"{step}: is a file, not a folder; {what} needs a folder there")
            return


def private_dir(path: str | Path) -> Path:
    """Create a folder (and its parents) for personal data: only its owner may list it."""
    path = Path(path)
    with os_errors():
        _folders_on_the_way(path, f"the folder {path}")
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return path


def refuse_existing(paths: list[Path], force: bool, flag: str = "--force") -> None:
    """Before writing a set of files: refuse if any exists (or is a link), unless `force`."""
    if force:
        return
    with os_errors():
        taken = [p for p in paths if p.is_symlink() or p.exists()]
    if taken:
        raise UsageError(f"{taken[0]}: exists already; choose another name, or pass {flag} to replace it")


def private_folder(path: str | Path) -> Path:
    """`mkdir -p` whose new folders are 0700 (personal data lives below); folders that exist
    already keep their mode (the user chose them). Returns the path."""
    path = Path(path)
    with os_errors():
        _folders_on_the_way(path, f"the folder {path}")
        new = []
        for folder in (path, *path.parents):
            if folder.exists():
                break
            new.append(folder)
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        for folder in new:  # intermediate folders get the default mode from mkdir(parents=True)
            os.chmod(folder, PRIVATE_DIR)
    return path


def private_by_default() -> None:
    """Tighten this process's umask to 077 (a stricter one is kept). Children inherit it: stage
    kernels, Dask workers on this machine and papermill writing executed notebooks all create
    files 0600 and folders 0700, whichever code writes them."""
    current = os.umask(0o077)
    os.umask(current | 0o077)


def make_private(*files: str | Path) -> None:
    """Files holding personal data readable by their owner only (0600), whatever the umask made
    of them; a name that does not exist (yet) is skipped."""
    for name in files:
        try:
            if (os.stat(name).st_mode & 0o777) != PRIVATE_FILE:
                os.chmod(name, PRIVATE_FILE)
        except (FileNotFoundError, PermissionError):
            continue


def write_private(path: str | Path, data: str | bytes, force: bool = False) -> Path:
    """Write `data` to a new file with mode 0600; see the module docstring. Returns the path."""
    with os_errors():
        return _write_private(Path(path), data, force)


def _write_private(path: Path, data: str | bytes, force: bool) -> Path:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_dir() and not path.is_symlink():
        raise UsageError(f"{path}: is a folder; name a file inside it")
    if not force:
        refuse_existing([path], force)
        # O_EXCL: fails if anything (a file, a dangling or live link) exists at the name.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
        _fill(fd, raw)
        return path
    # Replacing: write a fresh file beside it, then rename over the name (a link is replaced
    # as a name, the file it pointed to is left untouched).
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        _fill(fd, raw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _fill(fd: int, raw: bytes) -> None:
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), PRIVATE_FILE)  # whatever the umask
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())


def git_work_tree(path: str | Path) -> Path | None:
    """The top of the git work tree `path` (resolved) lies in, or None."""
    here = Path(path).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def output_path(out: str | Path | None, default_dir: str | Path, default_name: str) -> Path:
    """The file an `--out` value names: None -> `default_dir/default_name`; an existing folder
    (or a value ending in '/') -> `default_name` inside it; anything else -> that file."""
    if out is None or str(out) == "":
        return private_dir(default_dir) / default_name
    text = str(out)
    user_path(text, "--out")  # control characters, a name the OS refuses
    path = Path(text).expanduser()
    with os_errors("--out"):
        if text.endswith(("/", os.sep)) or path.is_dir():  # a link to a folder is a folder too
            return private_folder(path) / default_name
    return path
