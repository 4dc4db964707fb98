"""Masks for personal data in responses: enough to recognise, not enough to misuse."""


def mask_id_number(number: str) -> str:
    """`110105199001011234` → `110105********1234` (region code and last four kept)."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    """`张三丰` → `张**`: the family name only."""
    return name[:1] + "*" * (len(name) - 1) if name else name
