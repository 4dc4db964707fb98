"""Resident identity numbers (居民身份证号码, GB 11643-1999): format, check digit, birth date.

Error messages name the rule and never repeat the number: it is personal data.
"""

from dataclasses import dataclass
from datetime import date

from pydantic_core import PydanticCustomError

from shared.clock import china_today
from shared.masking import mask_id_number

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


@dataclass(frozen=True)
class ResidentIdFacts:
    """What an ID number says about its holder."""

    date_of_birth: date
    gender: str  # "male" or "female"


def check_digit(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def validate(value: str, *, today: date | None = None) -> str:
    """The normalised number (upper-case X), or a PydanticCustomError naming the broken rule."""
    number = value.strip().upper()
    if (
        len(number) != 18
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        raise PydanticCustomError(
            "resident_id_format", "an ID number has 17 digits and a check digit (0-9 or X)"
        )
    if check_digit(number[:17]) != number[17]:
        raise PydanticCustomError("resident_id_checksum", "the check digit does not match")
    born = _birth_date(number)
    if born is None:
        raise PydanticCustomError(
            "resident_id_birth_date", "the birth date inside the ID number is not a valid date"
        )
    if born > (today or china_today()):
        raise PydanticCustomError(
            "resident_id_birth_date", "the birth date inside the ID number lies in the future"
        )
    return number


def facts(number: str) -> ResidentIdFacts:
    """Birth date and gender encoded in a valid number."""
    born = _birth_date(number)
    if born is None:
        raise ValueError("not a valid ID number")
    return ResidentIdFacts(born, "male" if int(number[16]) % 2 else "female")


def masked(number: str | None) -> str | None:
    """The number with its middle hidden: region code and last four kept, 511523********123X."""
    if not number:
        return None
    return mask_id_number(number)


def _birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
