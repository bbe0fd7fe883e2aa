"""Mobile numbers: parsing, validation with clear reasons, and masking for logs."""
from __future__ import annotations

import phonenumbers
from flask_babel import lazy_gettext as _l
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}

ERRORS = {
    "missing": _l("Please type a mobile number."),
    "not_a_number": _l("This is not a phone number. Please use digits, for example 20 12 34 56."),
    "too_short": _l("The number is too short. A Danish mobile number has 8 digits."),
    "too_long": _l("The number is too long. A Danish mobile number has 8 digits."),
    "not_mobile": _l("This is not a mobile number, so it cannot receive text messages."),
}


def parse_mobile(raw: str | None, region: str = "DK") -> tuple[str | None, str | None]:
    """(E.164 number, None) for a valid mobile number, else (None, error key from ERRORS)."""
    text = (raw or "").strip()
    if not text:
        return None, "missing"
    if len(text) > 30 or any(ch.isalpha() for ch in text):
        return None, "not_a_number"
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None, "not_a_number"
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in (ValidationResult.TOO_SHORT, ValidationResult.INVALID_LENGTH) and len(
        phonenumbers.national_significant_number(number)) < 8:
        return None, "too_short"
    if reason in (ValidationResult.TOO_LONG, ValidationResult.INVALID_LENGTH):
        return None, "too_long" if reason == ValidationResult.TOO_LONG else "too_short"
    if reason == ValidationResult.TOO_SHORT:
        return None, "too_short"
    if not phonenumbers.is_valid_number(number):
        return None, "not_a_number"
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        return None, "not_mobile"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def error_text(key: str) -> str:
    """The user-facing message for an error key."""
    return str(ERRORS[key])


def mask(number: str | None) -> str:
    """A number safe for logs: country code and the last two digits only."""
    if not number:
        return ""
    digits = number.lstrip("+")
    return f"+{digits[:2]}{'*' * max(len(digits) - 4, 0)}{digits[-2:]}"


def pretty(number: str) -> str:
    """A number written the way people read it (+45 20 12 34 56)."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except NumberParseException:
        return number
