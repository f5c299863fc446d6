"""Numbers in a harmless form: what an amount, a share, a duration or a time of day looks like.

Anything else made of digits is unknown and does not leave: long digit runs, digits glued to
letters (a VIN, a plate, a wallet, a one-time code), numbers with a leading zero, and runs of
several numbers side by side ("0791 123 456", "4 8 2 1") -- see allow.py for runs.
"""
from __future__ import annotations

import regex

# 0-999 without a leading zero; a year 1900-2099; a round number ("1200", "5000").
SMALL_INT = r"(?:0|[1-9]\d{0,2}|(?:19|20)\d\d|[1-9]\d00)"
_GROUPED = r"(?:[1-9]\d{0,2}[,.'’]\d{3})"  # 1,299 / 12.500 / 100'000 (a million written out is an id more often)
_DECIMALS = r"(?:[.,]\d{1,2})"
_UNITS = ("gb|mb|kb|tb|gbit|mbit|kbit|gbps|mbps|kbps|ghz|mhz|hz|g|k|p|x|am|pm|h|hr|hrs|min|mins|s|sec|secs|ms|"
          "km|m|cm|mm|kg|mi|ft|w|kw|kwh|v|mah|mp|gig|gigs|eur|usd|gbp|chf|day|days|yr|yrs|mo|mth|mths|wk|wks|"
          "st|nd|rd|th|er|re|e|ème|eme|o|a|º|ª|°|°c|°f|€|\\$|£|¥|%")
_AMOUNT = rf"\p{{Sc}}?(?:{_GROUPED}|{SMALL_INT}){_DECIMALS}?(?:\p{{Sc}}|-)?"
_TIME = r"(?:[01]?\d|2[0-4])[:h][0-5]\d(?::[0-5]\d)?(?:am|pm|h)?"
_WITH_UNIT = rf"(?:{SMALL_INT}){_DECIMALS}?(?:{_UNITS})"
HARMLESS_RE = regex.compile(rf"(?i)(?:{_AMOUNT}|{_TIME}|{_WITH_UNIT}|\p{{Sc}}{SMALL_INT}{_DECIMALS}?[km]?)")
_BARE_RE = regex.compile(SMALL_INT)


def harmless(token: str) -> bool:
    """True for a number-bearing token (no blanks) in a harmless form: "49.99", "£1,200",
    "20%", "10:30", "5G", "3rd", "2019", "100Mbps"."""
    return HARMLESS_RE.fullmatch(token) is not None


def harmless_integer(digits: str) -> bool:
    """True for a bare digit run that is a small count, a year or a round number."""
    return _BARE_RE.fullmatch(digits) is not None


def digit_count(token: str) -> int:
    return sum(ch.isdigit() for ch in token)
