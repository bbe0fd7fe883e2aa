"""Checking uploaded images by their content: PNG and JPEG through Pillow, SVG through a strict allow-list."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

from PIL import Image, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 16_000_000  # refuse decompression bombs before decoding them
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
RASTER = {b"\x89PNG\r\n\x1a\n": ("PNG", "image/png"), b"\xff\xd8\xff": ("JPEG", "image/jpeg")}

SVG_TAGS = {
    "svg", "g", "defs", "title", "desc", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "linearGradient", "radialGradient", "stop", "clipPath", "mask", "symbol", "use", "style",
}
SVG_ATTRS = {
    "id", "class", "style", "viewBox", "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx",
    "ry", "d", "points", "transform", "fill", "fill-opacity", "fill-rule", "clip-rule", "stroke", "stroke-width",
    "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
    "stroke-dashoffset", "opacity", "clip-path", "mask", "font-family", "font-size", "font-weight", "font-style",
    "text-anchor", "dominant-baseline", "letter-spacing", "offset", "stop-color", "stop-opacity",
    "gradientUnits", "gradientTransform", "fx", "fy", "spreadMethod", "preserveAspectRatio", "version",
    "clipPathUnits", "maskUnits", "maskContentUnits", "href", "role", "aria-label", "aria-hidden", "display",
    "visibility", "color",
}
URL_RE = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.I)


class ImageRefused(ValueError):
    """An upload that is not an image we accept; the message is a key for the form."""


def check_image(data: bytes) -> tuple[bytes, str]:
    """(bytes to store, MIME type) for a PNG, JPEG or safe SVG, judged by content; else ImageRefused."""
    if len(data) > MAX_BYTES:
        raise ImageRefused("too_large")
    for magic, (fmt, mime) in RASTER.items():
        if data.startswith(magic):
            return _check_raster(data, fmt), mime
    if _looks_like_svg(data):
        return sanitise_svg(data), "image/svg+xml"
    raise ImageRefused("not_image")


def _check_raster(data: bytes, fmt: str) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != fmt or im.width * im.height > MAX_PIXELS:
                raise ImageRefused("not_image")
            im.load()  # decoding finds truncated or corrupt files that the header hides
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRefused("not_image") from exc
    return data


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in data[:4096].lower()


def sanitise_svg(data: bytes) -> bytes:
    """An SVG re-serialised from an allow-list; refuses scripts, event handlers, external references and DTDs."""
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise ImageRefused("svg_unsafe")  # no DTDs at all: no entity expansion, no external entities
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ImageRefused("not_image") from exc
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ImageRefused("not_image")
    _clean(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _clean(element: ET.Element) -> None:
    for child in list(element):
        ns, _, tag = child.tag.rpartition("}")
        if ns.lstrip("{") != SVG_NS or tag == "metadata":
            element.remove(child)  # editor metadata (Inkscape, RDF): harmless to drop
            continue
        if tag not in SVG_TAGS:
            raise ImageRefused("svg_unsafe")  # script, foreignObject, image, a, animate, …
        if tag == "style":
            _check_css(child.text or "")
        _clean(child)
    _clean_attributes(element)


def _clean_attributes(element: ET.Element) -> None:
    for name in list(element.attrib):
        value = element.attrib[name]
        ns, _, local = name.rpartition("}")
        if local.lower().startswith("on"):
            raise ImageRefused("svg_unsafe")
        if ns and ns.lstrip("{") != XLINK_NS:
            del element.attrib[name]
            continue
        if local == "href" and not value.strip().startswith("#"):
            raise ImageRefused("svg_unsafe")
        if not ns and local not in SVG_ATTRS:
            del element.attrib[name]
            continue
        _check_css(value)


def _check_css(text: str) -> None:
    lowered = text.lower()
    if "@import" in lowered or "javascript:" in lowered or "expression(" in lowered:
        raise ImageRefused("svg_unsafe")
    if any(not ref.startswith("#") for ref in URL_RE.findall(text)):
        raise ImageRefused("svg_unsafe")
