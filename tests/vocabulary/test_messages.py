"""The message catalog (shared/messages.py): Chinese by default, English on request, keyed by
rule code; every rule code the code raises has a Chinese message."""

import re
from pathlib import Path

from shared import messages
from shared.contracts.vocabulary import ALL

ROOT = Path(__file__).resolve().parents[2]
# How code names a rule: pydantic custom errors, ValidationFailed.one, FieldError, extras.
RULE_PATTERNS = [
    r'PydanticCustomError\(\s*"([a-z_]+)"',
    r'\.one\(\s*[^,()]+,\s*"([a-z_]+)"',
    r'FieldError\(\s*[^,()]+,\s*"([a-z_]+)"',
    r'"rule":\s*"([a-z_]+)"',
    r'\bRULE\s*=\s*"([a-z_]+)"',
]


def rules_in_code() -> dict[str, str]:
    """Every rule code named in services/, shared/ and cli/, with one file naming it."""
    found: dict[str, str] = {}
    for folder in ("services", "shared", "cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for pattern in RULE_PATTERNS:
                for match in re.finditer(pattern, text):
                    found.setdefault(match.group(1), str(path.relative_to(ROOT)))
    found |= {v.rule: "shared/contracts/vocabulary.py" for v in ALL.values()}
    return found


def test_every_rule_code_in_the_code_has_a_chinese_message() -> None:
    missing = {rule: path for rule, path in rules_in_code().items() if rule not in messages.CATALOG}
    assert not missing, "rules without a zh message in shared/messages.py: " + ", ".join(
        f"{rule} ({path})" for rule, path in sorted(missing.items())
    )


def test_the_rule_scan_finds_rules() -> None:
    found = rules_in_code()
    assert {"unknown_category", "phone_format", "scope", "unit_mismatch"} <= set(found)


def test_chinese_unless_english_is_preferred() -> None:
    assert messages.language(None) == "zh"
    assert messages.language("") == "zh"
    assert messages.language("en") == "en"
    assert messages.language("en-US,en;q=0.9") == "en"
    assert messages.language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert messages.language("fr, en;q=0.5") == "en"
    assert messages.language("en;q=0.2, zh;q=0.8") == "zh"
    assert messages.language("en;q=bogus") == "zh"


def test_a_rule_the_catalog_lacks_keeps_its_own_message() -> None:
    assert (
        messages.message("rule_added_elsewhere", "zh", "the raiser's words") == "the raiser's words"
    )
    assert (
        messages.message("rule_added_elsewhere", "en", "the raiser's words") == "the raiser's words"
    )


def test_parameters_fill_the_message_and_a_missing_one_drops_the_part() -> None:
    assert (
        messages.message("string_too_long", "zh", "x", {"max_length": 20})
        == "太长（最多 20 个字符）"
    )
    assert messages.message("string_too_long", "zh", "x", {}) == "太长"
    assert messages.message("string_too_long", "en", "at most 20", {}) == "at most 20"


def test_a_missing_parameter_leaves_out_the_words_around_it() -> None:
    filled = messages.message("role", "zh", "x", {"role": "coordinator", "allowed": "admin"})
    assert filled == "角色 coordinator 无权执行此操作（允许的角色：admin）"
    assert messages.message("role", "zh", "x", {}) == "角色无权执行此操作"
