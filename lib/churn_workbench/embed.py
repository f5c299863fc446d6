"""Making what a notebook shows self-contained, so an executed notebook (an audit artefact)
renders completely offline and anywhere it is copied: images travel inside it as data URIs."""
from __future__ import annotations

import base64
import mimetypes
import re
from pathlib import Path

# ![alt](target) with a target that is not already a URL or a data URI.
_IMAGE = re.compile(r"!\[([^\]]*)\]\((?!data:|https?:|//)([^)\s]+)\)")


def markdown_images_inline(markdown: str, base_dir: str | Path) -> str:
    """`markdown` with every image that refers to a file (relative to `base_dir`) replaced by a
    data URI of that file. A missing file is left as is, so the gap stays visible."""
    base_dir = Path(base_dir)

    def inline(match: re.Match) -> str:
        path = base_dir / match.group(2)
        if not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"![{match.group(1)}](data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')})"

    return _IMAGE.sub(inline, markdown)
